"""The Epoch AI Benchmarking Hub adapter on the real mirrored files, and the archive that holds them."""

import csv
import io
import json
import zipfile

import pytest

from assets.parsers import ParseError
from assets.parsers.epoch_hub import HUB_FILES, parse_epoch_hub, read_hub_archive
from conftest import MIRROR

pytestmark = pytest.mark.unit

HUB = (
    MIRROR
    / "raw.githubusercontent.com/pranmod01/apart-sprint/24efa3f00884caf472167d1a2700270c0ec42974/frontend/public/data/raw/epoch_benchmark_data"
)


def test_every_mirrored_file_is_declared_and_parses():
    files = sorted(p.name for p in HUB.glob("*.csv"))
    assert files == sorted(HUB_FILES)
    for name in files:
        with open(HUB / name, newline="", encoding="utf-8") as fh:
            n_rows = sum(1 for _ in csv.DictReader(fh))
        parsed = parse_epoch_hub((HUB / name).read_bytes(), source="epoch_hub", file=name)
        assert parsed.scores.height == parsed.models.height == n_rows, name  # every row, several per model kept


def test_a_score_column_that_is_not_the_second():
    parsed = parse_epoch_hub(
        (HUB / "terminalbench_external.csv").read_bytes(), source="epoch_hub", file="terminalbench_external.csv"
    )
    with open(HUB / "terminalbench_external.csv", newline="", encoding="utf-8") as fh:
        first = next(csv.DictReader(fh))
    assert list(first)[1] == "Agent"  # the score is the third column
    got = parsed.scores.filter(model_id=first["id"]).row(0, named=True)
    assert (got["value"], got["stderr"]) == (float(first["Accuracy mean"]), float(first["Accuracy SE"]))
    assert (
        json.loads(parsed.models.filter(model_id=first["id"])["attributes"][0])["model_version"]
        == first["Model version"]
    )


def test_percent_and_fraction_scales_are_declared_not_guessed():
    scale = {
        name: parse_epoch_hub((HUB / name).read_bytes(), source="e", file=name).benchmarks["scale"][0]
        for name in (
            "aider_polyglot_external.csv",
            "cad_eval_external.csv",
            "metr_time_horizons_external.csv",
            "webdev_arena_external.csv",
            "lech_mazur_writing_external.csv",
        )
    }
    assert scale == {
        "aider_polyglot_external.csv": "percent",
        "cad_eval_external.csv": "fraction",
        "metr_time_horizons_external.csv": "minutes",
        "webdev_arena_external.csv": "elo",
        "lech_mazur_writing_external.csv": "score_1_10",
    }
    aider = parse_epoch_hub(
        (HUB / "aider_polyglot_external.csv").read_bytes(), source="e", file="aider_polyglot_external.csv"
    )
    assert aider.scores["value"].max() > 1  # percent: 3.6 to 88
    with pytest.raises(ParseError, match="not a declared Benchmarking Hub file"):
        parse_epoch_hub(b"Model version,Score\nm,1\n", source="e", file="new_benchmark_external.csv")


def test_several_rows_per_model_and_rows_without_a_model_are_kept():
    mmlu = parse_epoch_hub((HUB / "mmlu_external.csv").read_bytes(), source="e", file="mmlu_external.csv")
    versions = [json.loads(a)["model_version"] for a in mmlu.models["attributes"]]
    assert len(versions) - len(set(versions)) > 0  # e.g. several sources or shot counts for one model
    os_world = parse_epoch_hub((HUB / "os_world_external.csv").read_bytes(), source="e", file="os_world_external.csv")
    assert sum(json.loads(a)["model_version"] is None for a in os_world.models["attributes"]) == 28


def zip_of(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_archive_entries_by_name():
    data = {n: (HUB / n).read_bytes() for n in ("gpqa_diamond.csv", "mmlu_external.csv")}
    files = read_hub_archive(
        zip_of({f"benchmark_data/{n}": b for n, b in data.items()} | {"README.txt": b"x"}),
        source="epoch_hub",
        file="benchmark_data.zip",
    )
    assert files == data


@pytest.mark.parametrize("name", ["../evil.csv", "/etc/evil.csv", "benchmark_data/../../evil.csv"])
def test_archive_entries_outside_the_root_are_refused(name):
    with pytest.raises(ParseError, match="points outside the archive"):
        read_hub_archive(zip_of({name: b"x"}), source="epoch_hub", file="benchmark_data.zip")


def test_an_archive_that_expands_past_the_limit_is_refused():
    bomb = zip_of({"big.csv": b"0" * (8 * 2**20)})  # 8 MiB of zeros, a few KiB compressed
    assert len(bomb) < 64 * 1024
    with pytest.raises(ParseError, match="expands past 4194304 bytes .* refusing a zip bomb"):
        read_hub_archive(bomb, source="epoch_hub", file="benchmark_data.zip", max_bytes=4 * 2**20)
    with pytest.raises(ParseError, match="not a zip archive"):
        read_hub_archive(b"<html>", source="epoch_hub", file="benchmark_data.zip")
