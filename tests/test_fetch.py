import hashlib
import http.server
import threading

import dagster as dg
import pytest

from assets.sources import SOURCES, Source, SourceFile, fetch_files
from conftest import MIRROR
from assets.resources import Fetcher, FetchError
from assets.warehouse import Store, WarehouseError


def index_sha256() -> dict[str, str]:
    rows = (MIRROR / "INDEX.tsv").read_text().splitlines()[1:]
    return {url: sha for url, sha, *_ in (r.split("\t") for r in rows)}


def test_mirror_maps_url_to_folder():
    url = SOURCES[0].files[2].url
    data = Fetcher(mirror=str(MIRROR)).get(url)
    assert hashlib.sha256(data).hexdigest() == index_sha256()[url]


def test_mirror_missing_file_names_url():
    with pytest.raises(FetchError, match=r"https://raw.githubusercontent.com/nobody/x.csv: not in the mirror"):
        Fetcher(mirror=str(MIRROR)).get("https://raw.githubusercontent.com/nobody/x.csv")


def test_pinned_checksum_mismatch_is_refused(tmp_path):
    (tmp_path / "example.org").mkdir()
    (tmp_path / "example.org" / "a.csv").write_bytes(b"changed\n")
    source = Source("demo", "d", "safetywashing_csv", "v1", "MIT",
                    (SourceFile("a.csv", "https://example.org/a.csv", "info", sha256=hashlib.sha256(b"original\n").hexdigest()),))
    with pytest.raises(dg.Failure, match=r"source 'demo', file 'a.csv': sha256 .* differs from the pinned"):
        fetch_files(source, Fetcher(mirror=str(tmp_path)))


def test_raw_store_is_content_addressed_immutable_and_verified(tmp_path):
    store = Store(tmp_path)
    sha, relpath = store.store_raw("demo", b"abc\n", ".csv")
    digest = hashlib.sha256(b"abc\n").hexdigest()
    assert relpath == f"raw/demo/{digest}.csv"  # relative: the warehouse folder can move
    path = tmp_path / relpath
    assert sha == digest and path.read_bytes() == b"abc\n"
    assert not path.stat().st_mode & 0o222  # read-only
    assert store.store_raw("demo", b"abc\n", ".csv") == (sha, relpath)
    moved = tmp_path.parent / "moved"
    tmp_path.rename(moved)
    assert Store(moved).read_raw(relpath, sha) == b"abc\n"
    path = moved / relpath
    path.chmod(0o644)
    path.write_bytes(b"abd\n")
    with pytest.raises(WarehouseError, match=rf"raw file {path} is damaged: its sha256 is [0-9a-f]{{64}}, it was stored as {sha}"):
        Store(moved).read_raw(relpath, sha)


class Flaky(http.server.BaseHTTPRequestHandler):
    failures_left = 2
    calls = 0

    def do_GET(self):
        type(self).calls += 1
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            self.send_response(503)
            self.end_headers()
            return
        body = b"model,x\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_http_retries_with_backoff_then_succeeds(monkeypatch):
    monkeypatch.delenv("SAFETYWASH_MIRROR", raising=False)
    server = http.server.HTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/x.csv"
        assert Fetcher(backoff_seconds=0.01).get(url) == b"model,x\n"
        assert Flaky.calls == 3
        Flaky.failures_left, Flaky.calls = 10, 0
        with pytest.raises(FetchError, match=r"x.csv: .*(too many 503|Max retries)"):
            Fetcher(retries=2, backoff_seconds=0.01).get(url)
        assert Flaky.calls == 3
    finally:
        server.shutdown()
