"""One bad pinned file fails its own snapshot only: every other snapshot of the source lands and publishes, and
the failure is named (source, snapshot, file, reason) in the run, the CLI summary and the marts."""

import os
import shutil

import pytest
from typer.testing import CliRunner

from assets.analyses import ANALYSES_FILE
from assets.resources import Warehouse
from assets.landing import pinned_content_id
from assets.sources import REGISTRY
from assets.warehouse import Store, query_frame
from conftest import MIRROR, backfill
from orchestration.cli import app

pytestmark = pytest.mark.integration

ARENA = REGISTRY["arena"].snapshots
# a commit whose content another commit also holds lands through that one: the positions are among the others
_CIDS = [pinned_content_id(s) for s in ARENA]
UNIQUE = [s for s, cid in zip(ARENA, _CIDS) if _CIDS.count(cid) == 1]
HTML = b"<!DOCTYPE html><html><body>429 Too Many Requests</body></html>\n"


def mirror_with_bad(tmp_path, snapshot) -> os.PathLike:
    """The mirror as links, with ``snapshot``'s one file replaced by an HTML page."""
    mirror = tmp_path / "mirror"
    shutil.copytree(MIRROR, mirror, copy_function=os.symlink)
    path = mirror / snapshot.files[0].url.removeprefix("https://")
    path.unlink()
    path.write_bytes(HTML)
    return mirror


@pytest.mark.parametrize("position", [0, len(UNIQUE) // 2, len(UNIQUE) - 1], ids=["oldest", "middle", "newest"])
def test_a_bad_pinned_file_fails_only_its_snapshot(tmp_path, position):
    bad = UNIQUE[position]
    root = tmp_path / "warehouse"
    with pytest.raises(Exception):
        backfill(root, "arena", mirror_with_bad(tmp_path, bad))  # the step fails, naming the snapshot
    landed = Warehouse(directory=str(root)).landed
    expected = {pinned_content_id(s) for s in ARENA} - {pinned_content_id(bad)}
    assert set(landed.content_ids("arena")) == expected
    [record] = landed.failures("arena").values()
    assert (record["snapshot"], record["file"], record["line"]) == (bad.id, bad.files[0].name, None)
    assert record["reason"].startswith("sha256 ") and f"({len(HTML)} bytes) differs from the pinned" in record["reason"]


def test_the_summary_names_the_failed_snapshot_and_the_marts_count_it(tmp_path):
    bad = UNIQUE[len(UNIQUE) // 2]
    mirror = mirror_with_bad(tmp_path, bad)
    analyses = tmp_path / "analyses.toml"
    shipped = ANALYSES_FILE.read_text()
    [entry] = [e for e in shipped.split("[[analyses]]") if 'name = "arena_vs_epoch"' in e]
    analyses.write_text("[[analyses]]" + entry.replace("resamples = 1000", "resamples = 50"))
    root = tmp_path / "warehouse"
    args = [
        "refresh",
        "--warehouse",
        str(root),
        "--mirror",
        str(mirror),
        "--quiet",
        "--resamples",
        "50",
        "--analyses",
        str(analyses),
        "--source",
        "arena",
        "--source",
        "epoch_hub",
    ]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 3, out.output
    line = (
        f"FAILED (this snapshot is not landed; the source's others are): source 'arena', snapshot {bad.id} "
        f"({bad.date[:10]}), file 'lmsys.csv': sha256 "
    )
    assert line in out.output
    store = Store(root)
    version = store.current_version()
    assert (
        f"error: 1 source(s) had failures: arena (1 snapshot(s) not landed); everything else was published as "
        f"version {version}" in out.output
    )
    with store.read() as con:
        missing = query_frame(
            con, "select source, snapshot, status, file from marts.snapshots_missing where status = 'failed'"
        )
        landed = query_frame(con, "select count(*) n from marts.snapshots where source = 'arena' and pinned")["n"][0]
        row = query_frame(con, "select * from marts.analyses where analysis = 'arena_vs_epoch'").row(0, named=True)
        read = query_frame(
            con, "select count(distinct snapshot) n from marts.capabilities_scores where analysis = 'arena_vs_epoch'"
        )["n"][0]
    assert missing.rows() == [("arena", bad.id, "failed", "lmsys.csv")]
    assert landed == len({pinned_content_id(s) for s in ARENA}) - 1
    assert bad.date[:10] >= "2024-10-01"  # inside the analysis's window
    assert row["n_snapshots_not_landed"] == 1 and bad.id in row["snapshots_not_landed"]
    assert row["n_snapshots"] == read
    # a rerun with the file still bad lands nothing new, publishes nothing, and says the same
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 3 and line in again.output
    assert f"version {version} stays current" in again.output and store.current_version() == version
