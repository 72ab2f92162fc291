import hashlib
import http.server
import threading

import dagster as dg
import pytest

from assets.registry import Registered, Snapshot, SourceFile
from assets.resources import Fetcher, FetchError, NotMirrored, Warehouse
from assets.sources import REGISTRY, build_snapshot_asset
from conftest import MIRROR
from assets.warehouse import Store, WarehouseError

pytestmark = pytest.mark.unit


def index_sha256() -> dict[str, str]:
    rows = (MIRROR / "INDEX.tsv").read_text().splitlines()[1:]
    return {url: sha for url, sha, *_ in (r.split("\t") for r in rows)}


def test_mirror_maps_url_to_folder():
    url = REGISTRY["safetywashing"].snapshots[-1].files[2].url
    data = Fetcher(mirror=str(MIRROR)).get(url)
    assert hashlib.sha256(data).hexdigest() == index_sha256()[url]


def test_mirror_missing_file_names_url():
    with pytest.raises(NotMirrored, match=r"https://raw.githubusercontent.com/nobody/x.csv: not in the mirror"):
        Fetcher(mirror=str(MIRROR)).get("https://raw.githubusercontent.com/nobody/x.csv")


def test_pinned_checksum_mismatch_is_refused_and_nothing_is_landed(tmp_path):
    (tmp_path / "mirror" / "example.org").mkdir(parents=True)
    (tmp_path / "mirror" / "example.org" / "a.csv").write_bytes(b"changed\n")
    pinned = SourceFile("a.csv", "https://example.org/a.csv", "info", sha256=hashlib.sha256(b"original\n").hexdigest())
    registered = Registered(
        "demo", "d", "safetywashing_csv", "MIT", (), (Snapshot("v1", "2024-01-01T00:00:00+00:00", (pinned,)),)
    )
    warehouse = Warehouse(directory=str(tmp_path / "warehouse"))
    result = dg.materialize(
        [build_snapshot_asset(registered)],
        partition_key="2024-01-01_v1",
        raise_on_error=False,
        resources={"warehouse": warehouse, "fetcher": Fetcher(mirror=str(tmp_path / "mirror"))},
    )
    assert not result.success
    message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.user_failure_data.description
    assert message.startswith(
        "source 'demo': 1 of 1 pinned snapshot(s) could not be landed (the other 0 are): "
        "source 'demo', snapshot v1 (2024-01-01), file 'a.csv': sha256 "
    )
    assert "differs from the pinned" in message and "a corrupted or changed file, refused" in message
    assert warehouse.landed.content_ids("demo") == []


def test_conditional_requests_to_the_mirror(tmp_path):
    (tmp_path / "h").mkdir()
    path = tmp_path / "h" / "f.csv"
    path.write_bytes(b"a\n")
    fetcher = Fetcher(mirror=str(tmp_path))
    first = fetcher.fetch("https://h/f.csv")
    assert first.data == b"a\n" and first.etag and first.last_modified.endswith("GMT")
    assert fetcher.fetch("https://h/f.csv", etag=first.etag).data is None  # "304": nothing new
    path.write_bytes(b"ab\n")
    assert fetcher.fetch("https://h/f.csv", etag=first.etag).data == b"ab\n"


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
    with pytest.raises(
        WarehouseError, match=rf"raw file {path} is damaged: its sha256 is [0-9a-f]{{64}}, it was stored as {sha}"
    ):
        Store(moved).read_raw(relpath, sha)


def test_objects_in_another_folder_hold_the_raw_files_and_landed_snapshots(tmp_path, monkeypatch):
    """SAFETYWASH_OBJECTS moves what every host shares out of the warehouse folder (S3 in the distributed profile:
    tests/test_distributed.py); keys address it, temporaries never show, a removal takes a whole prefix."""
    monkeypatch.setenv("SAFETYWASH_OBJECTS", str(tmp_path / "shared"))
    store = Store(tmp_path / "warehouse")
    sha, relpath = store.store_raw("demo", b"abc\n", ".csv")
    assert (tmp_path / "shared" / relpath).read_bytes() == b"abc\n" and not (tmp_path / "warehouse" / "raw").exists()
    objects = store.objects
    objects.put("a/b/c.json", b"{}")
    (tmp_path / "shared" / "a" / "b" / ".half.json.1.tmp").write_bytes(b"{")
    assert objects.names("a/b") == ["c.json"] and objects.names("nothing") == [] and objects.exists("a/b/c.json")
    with pytest.raises(FileNotFoundError):
        objects.get("a/b/d.json")
    objects.remove("a")
    assert not objects.exists("a/b/c.json") and objects.names("") == ["raw"]
    assert (
        objects.url(relpath) == str(tmp_path / "shared" / relpath)
        and Store(tmp_path / "w2").read_raw(relpath, sha) == b"abc\n"
    )


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


class Conditional(http.server.BaseHTTPRequestHandler):
    """Answers 304 to a request whose If-None-Match is its ETag, as GitHub's raw host does."""

    body, etag, seen = b"model,x\n", '"v1"', []

    def do_GET(self):
        type(self).seen.append((self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")))
        if self.headers.get("If-None-Match") == self.etag:
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("ETag", self.etag)
        self.send_header("Last-Modified", "Wed, 06 Aug 2025 23:05:32 GMT")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_http_conditional_request_sends_validators_and_reads_304(monkeypatch):
    monkeypatch.delenv("SAFETYWASH_MIRROR", raising=False)
    server = http.server.HTTPServer(("127.0.0.1", 0), Conditional)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/x.csv"
        first = Fetcher().fetch(url)
        assert (first.data, first.etag, first.last_modified) == (b"model,x\n", '"v1"', "Wed, 06 Aug 2025 23:05:32 GMT")
        again = Fetcher().fetch(url, etag=first.etag, last_modified=first.last_modified)
        assert again.data is None and again.etag == '"v1"'
        assert Conditional.seen[-1] == ('"v1"', "Wed, 06 Aug 2025 23:05:32 GMT")
    finally:
        server.shutdown()
