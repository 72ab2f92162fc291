"""The Arena adapter on real mirrored snapshots of three header generations, and on bad inputs."""

import csv
import gzip

import pytest

from assets.parsers import ParseError
from assets.parsers.arena import parse_arena
from conftest import MIRROR

pytestmark = pytest.mark.unit

ARENA = MIRROR / "raw.githubusercontent.com/fboulnois/llm-leaderboard-csv"
ELO_2024 = ARENA / "3792cf00e845ff3a0a04e84ee6fcbbf8e287c439/csv/lmsys.csv"  # rank,model,arena_elo,...
SCORE_2024 = ARENA / "4070040f60128ad68fe25936bd0a7719c1215803/csv/lmsys.csv"  # rank,model,arena_score,...
STYLECTRL_2025 = ARENA / "main/csv/lmarena_text.csv"  # rank,rank_stylectrl,model,arena_score,...


def rows_of(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(
    "path, column", [(ELO_2024, "arena_elo"), (SCORE_2024, "arena_score"), (STYLECTRL_2025, "arena_score")]
)
def test_every_header_generation_lands_as_one_benchmark(path, column):
    parsed = parse_arena(path.read_bytes(), source="arena", file=path.name)
    raw = rows_of(path)
    unique = {r["model"] for r in raw}
    scores = parsed.scores.filter(benchmark="arena_score")
    assert scores.height == parsed.models.height == len(unique)
    assert parsed.benchmarks.filter(benchmark="arena_score").row(0) == (
        "arena_score",
        column,
        "elo",
        True,
        parsed.benchmarks["description"][0],
    )
    first = raw[0]
    got = scores.filter(model_id=first["model"]).row(0, named=True)
    plus, minus = first["95_pct_ci"].lstrip("+").split("/-")
    assert got["value"] == float(first[column])
    assert (got["ci_low"], got["ci_high"]) == (float(first[column]) - float(minus), float(first[column]) + float(plus))


def test_the_2024_snapshot_values():
    parsed = parse_arena(ELO_2024.read_bytes(), source="arena", file="lmsys.csv")
    gpt4o = parsed.scores.filter(model_id="GPT-4o-2024-05-13").row(0, named=True)
    assert (gpt4o["value"], gpt4o["ci_low"], gpt4o["ci_high"]) == (1287.0, 1284.0, 1290.0)
    assert '"votes": 42046' in parsed.models.filter(model_id="GPT-4o-2024-05-13")["attributes"][0]
    assert parsed.benchmarks["benchmark"].to_list() == ["arena_score"]  # no style-control rank yet


def test_a_model_listed_twice_with_two_ranks_is_one_model_counted():
    parsed = parse_arena(STYLECTRL_2025.read_bytes(), source="arena", file="lmarena_text.csv")
    assert parsed.duplicate_lines == [202]  # Yi-34B-Chat on lines 201 and 202, ranks 200 and 201
    assert parsed.scores.filter(model_id="Yi-34B-Chat", benchmark="arena_score")["value"].to_list() == [1134.0]
    rank = parsed.benchmarks.filter(benchmark="arena_rank_stylectrl").row(0, named=True)
    assert rank["scale"] == "rank" and rank["higher_is_better"] is False


GOOD = (
    "rank,model,arena_score,95_pct_ci,votes,organization,license,knowledge_cutoff,url\n"
    "1,Model-A,1300,+3/-4,1000,Org,Proprietary,2024/1,https://a\n"
    "2,Model-B,1250,+5/-5,800,Org,MIT,2024/2,https://b\n"
)


@pytest.mark.parametrize(
    "data, line, message",
    [
        (b"", None, "file is empty"),
        (GOOD.splitlines(keepends=True)[0].encode(), None, "no model rows"),
        (b"<!DOCTYPE html><html><body>Rate limited</body></html>", 1, "an HTML page, not data"),
        (gzip.compress(GOOD.encode()), None, "gzip-compressed bytes"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 3, "binary data"),
        (GOOD[:-20].encode(), 3, "does not end with a line end"),
        (GOOD[:-20].encode() + b"\n", 3, "7 fields where the header has 9"),
        (GOOD.replace(",model,", ",name,").encode(), 1, r"missing column\(s\) \['model'\]"),
        (GOOD.replace("1300", "inf").encode(), 2, "not a finite number"),
        (GOOD.replace("1300", "high").encode(), 2, "column 'arena_score': 'high' is not a number"),
        (GOOD.replace("Org,MIT", "Orgé,MIT").encode("latin-1"), 3, "not UTF-8"),
        (
            GOOD.replace(",arena_score,", ",arena_elo,arena_score,")
            .replace(",1300,", ",1300,1300,")
            .replace(",1250,", ",1250,1250,")
            .encode(),
            1,
            "expected exactly one score column",
        ),
        (
            (GOOD + "3,Model-A,1299,+3/-4,1000,Org,Proprietary,2024/1,https://a\n").encode(),
            4,
            r"\{'model': 'Model-A'\} already on line 2 with other values \(columns \['arena_score'\]\)",
        ),
        (GOOD.replace("+3/-4", "3-4").encode(), 2, "'3-4' is not '\\+P/-M'"),
    ],
)
def test_bad_inputs_are_refused_by_name(data, line, message):
    with pytest.raises(ParseError, match=message) as info:
        parse_arena(data, source="arena", file="x.csv")
    assert info.value.line == line and str(info.value).startswith("source 'arena', file 'x.csv', ")


def test_bom_crlf_and_an_exact_repeat_are_accepted():
    plain = parse_arena(GOOD.encode(), source="arena", file="x.csv")
    repeated = GOOD + GOOD.splitlines(keepends=True)[1]
    messy = parse_arena(b"\xef\xbb\xbf" + repeated.replace("\n", "\r\n").encode(), source="arena", file="x.csv")
    assert messy.scores.equals(plain.scores) and messy.duplicate_lines == [4]
