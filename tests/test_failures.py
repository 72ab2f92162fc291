"""Failures say what happened: a full disk during a forced refresh, a report that cannot be written, a leftover
candidate, tombstones, a warehouse path that is a file, an offline first fetch, an empty warehouse with nothing
to fetch. Each asserts the outcome and the message."""

import errno
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import urllib3.util.connection
from typer.testing import CliRunner

import assets.resources as resources
from assets.resources import FetchError, Fetcher
from orchestration.instance import persistent_instance
from assets.warehouse import DISCARDED_DIR, TOMBSTONE_KEEP, Store
from conftest import MIRROR, paper_only_analyses, refresh
from orchestration.cli import app

pytestmark = pytest.mark.integration


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def leftovers(root: Path) -> list[str]:
    """What a failed command must not leave: the candidate and any temporary file."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.name in ("candidate", ".candidate.tmp") or p.name.endswith(".tmp")
    )


def published_rows(root: Path) -> list[tuple]:
    with Store(root).read() as con:
        return con.sql("select source, count(*) from marts.scores group by all order by all").fetchall()


@pytest.fixture
def tmpfs(tmp_path):
    """A 40 MB tmpfs holding a copy of the session's warehouse; skipped where mounting is not permitted (the
    injected case below covers the same path there)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path) -> None:
    with (disk / "filler").open("wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_disk_fails_the_forced_refresh_in_one_line_and_readers_keep_their_version(refreshed, tmpfs, tmp_path):
    root = tmpfs / "warehouse"
    shutil.copytree(refreshed, root, symlinks=True)
    before, rows = Store(root).current_version(), published_rows(root)
    persistent_instance(root).dispose()  # the run history's databases, as any refresh from the CLI leaves them
    fill(tmpfs)
    out = cli(
        "refresh",
        "--warehouse",
        str(root),
        "--mirror",
        str(MIRROR),
        "--source",
        "safetywashing",
        "--force",
        "--resamples",
        "50",
        "--analyses",
        str(paper_only_analyses(tmp_path / "paper.toml")),
    )
    assert out.exit_code == 1, out.output
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: step land failed: no space left on device while writing {root}/candidate/catalog.ducklake",
        errors[1],
    ]
    assert errors[1].endswith(f"; nothing was published: readers still see version {before}")
    # the run history could not be written either: said, and the refresh went on to fail where the work did
    assert any(
        line.startswith("warning: this run is not recorded in the warehouse's Dagster instance (")
        for line in out.stderr.splitlines()
    )
    assert "Traceback" not in out.output
    # the progress log stopped quietly and says so
    assert any(
        line.startswith("log: ") and line.endswith("is incomplete (no space left on device while writing)")
        for line in out.stderr.splitlines()
    )
    assert Store(root).current_version() == before and published_rows(root) == rows
    assert leftovers(root) == []  # the run removed its own candidate

    report = cli("report", "--warehouse", str(root), "--out", str(tmpfs / "report"))
    assert report.exit_code == 2
    assert report.output == (
        f"error: cannot write the report: no space left on device while writing "
        f"{tmpfs / 'report' / 'report.html'}; nothing was written\n"
    )
    assert leftovers(tmpfs) == []


def test_an_injected_full_disk_fails_the_same_way(refreshed, tmp_path, monkeypatch):
    """Where a tmpfs cannot be mounted: the same refresh with ENOSPC raised by the candidate's copy."""
    import assets.lake

    root = tmp_path / "warehouse"
    shutil.copytree(refreshed, root, symlinks=True)
    before = Store(root).current_version()

    def full(con, source, target, tables, **options):
        dst = root / "candidate" / "data" / "raw" / "part.parquet"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(assets.lake, "copy_tables", full)
    out = cli(
        "refresh",
        "--warehouse",
        str(root),
        "--mirror",
        str(MIRROR),
        "--source",
        "safetywashing",
        "--force",
        "--resamples",
        "50",
        "--analyses",
        str(paper_only_analyses(tmp_path / "paper.toml")),
        "--quiet",
    )
    assert out.exit_code == 1, out.output
    assert (
        f"error: step land failed: no space left on device while writing {root}/candidate/data/raw/part.parquet\n"
        in out.stderr
    )
    assert f"nothing was published: readers still see version {before}\n" in out.stderr
    assert Store(root).current_version() == before and leftovers(root) == []


def test_a_report_folder_that_cannot_be_made_is_named(refreshed, tmp_path):
    (tmp_path / "file").write_text("x")
    out = cli("report", "--warehouse", str(refreshed), "--out", str(tmp_path / "file" / "report"))
    assert out.exit_code == 2
    assert out.output == (
        f"error: cannot write the report: not a directory at {tmp_path / 'file' / 'report'}; nothing was written\n"
    )


def test_a_failed_runs_candidate_goes_at_the_next_start(refreshed, tmp_path):
    root = tmp_path / "warehouse"
    shutil.copytree(refreshed, root, symlinks=True)
    store = Store(root)
    store.candidate("a-run-that-failed")  # what a UI run that failed after `land` leaves
    assert (store.candidate_dir / "catalog.ducklake").is_file() and any(
        (store.candidate_dir / "data").rglob("*.parquet")
    )
    result = refresh(root)  # nothing new: nothing is rebuilt, but the leftover goes
    assert result.success and not result.published
    assert leftovers(root) == []
    assert (root / DISCARDED_DIR / "a-run-that-failed").exists()  # so that run cannot continue on a new candidate


def test_tombstones_are_kept_newest_first_up_to_a_count(tmp_path):
    store = Store(tmp_path / "warehouse")
    tombstones = store.root / DISCARDED_DIR
    tombstones.mkdir(parents=True)
    now = time.time()
    for i in range(TOMBSTONE_KEEP + 50):
        (tombstones / f"old-{i:03d}").touch()
        os.utime(tombstones / f"old-{i:03d}", (now - 3600 - i, now - 3600 - i))  # old-000 the newest
    store.candidate("first")
    store.candidate("second")  # discards "first"
    kept = sorted(p.name for p in tombstones.iterdir())
    assert len(kept) == TOMBSTONE_KEEP
    assert kept == sorted(["first", *(f"old-{i:03d}" for i in range(TOMBSTONE_KEEP - 1))])


@pytest.mark.parametrize("command", [["refresh"], ["sql", "select 1"], ["versions"], ["tables"], ["report"]])
def test_a_warehouse_path_that_is_a_file_is_named(tmp_path, command):
    path = tmp_path / "warehouse"
    path.write_text("not a folder")
    out = cli(*command, "--warehouse", str(path))
    assert out.exit_code == 2, out.output
    assert out.output == (
        f"error: the warehouse path {path} is a file, not a folder: pass --warehouse (or "
        "SAFETYWASH_WAREHOUSE) a folder, or move the file\n"
    )
    assert path.read_text() == "not a folder"


def test_offline_the_first_fetch_of_a_host_fails_fast_and_names_the_mirror(monkeypatch):
    monkeypatch.delenv("SAFETYWASH_MIRROR", raising=False)
    monkeypatch.setattr(resources, "_unreachable", {})
    attempts = []
    real = urllib3.util.connection.create_connection

    def counted(address, *args, **kwargs):
        attempts.append(address[0])
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counted)
    fetcher = Fetcher(backoff_seconds=0.01)
    with pytest.raises(FetchError) as first:
        fetcher.get("https://safetywash.invalid/a.csv")  # .invalid never resolves (RFC 2606)
    assert str(first.value).startswith("https://safetywash.invalid/a.csv: safetywash.invalid cannot be reached (")
    assert str(first.value).endswith(
        "no mirror is set: offline, point --mirror or SAFETYWASH_MIRROR at a mirror folder"
    )
    assert attempts == ["safetywash.invalid"] * 2  # one retry, not four with backoff
    for path in ("b.csv", "c.csv"):
        with pytest.raises(
            FetchError, match=r"not tried, safetywash.invalid was unreachable moments ago .* SAFETYWASH_MIRROR"
        ):
            fetcher.get(f"https://safetywash.invalid/{path}")
    assert len(attempts) == 2


def test_an_empty_warehouse_with_nothing_to_fetch_says_so(tmp_path):
    (tmp_path / "mirror").mkdir()
    out = cli(
        "refresh",
        "--warehouse",
        str(tmp_path / "warehouse"),
        "--mirror",
        str(tmp_path / "mirror"),
        "--resamples",
        "50",
        "--quiet",
    )
    assert out.exit_code == 3
    assert "None" not in out.output and "kept the last good snapshot" not in out.output
    assert "everything else was published" not in out.output
    assert "refresh done" in out.stdout and out.stdout.rstrip().endswith(
        "no source has a snapshot yet, so nothing was published"
    )
    assert (
        "FAILED (this snapshot is not landed; nor is any other of this source): source 'arena', snapshot " in out.stderr
    )
    failures = tmp_path / "warehouse" / "landed" / "v1" / "arena" / "failures.json"
    assert (
        f"    ... and 89 more snapshot(s) not landed, each listed in {failures}\n" in out.stderr
    )  # 92 distinct, 3 shown
    assert out.stderr.rstrip().splitlines()[-1].endswith("; nothing has been published yet")
