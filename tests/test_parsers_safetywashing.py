import csv

import pytest

from assets.parsers import ParseError
from assets.parsers.safetywashing import parse_benchmark_info, parse_matrix
from conftest import SW_DATA

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("model_set, n_models", [("base", 27), ("chat", 26)])
def test_real_matrix_is_complete_and_counts_missing(model_set, n_models):
    path = SW_DATA / f"benchmarks_{model_set}_models.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    bench_cols = [i for i, c in enumerate(header) if c not in ("model", "model_size", "FLOP", "name", "type")]
    empty_cells = sum(1 for r in rows[1:] for i in bench_cols if r[i] == "")
    scores, models, dropped = parse_matrix(path.read_bytes(), source="safetywashing", file=path.name)
    assert dropped == []
    assert models.height == n_models
    assert scores.height == n_models * len(bench_cols)
    assert scores["value"].null_count() == empty_cells
    llama = models.filter(models["model_id"] == ("Llama-2-13b-hf" if model_set == "base" else "Llama-2-13b-chat-hf"))
    assert llama["parameters"][0] == 13e9 and llama["training_flop"][0] == 1.6e23


def test_real_info_directions():
    info = parse_benchmark_info(
        (SW_DATA / "benchmarks_info.csv").read_bytes(), source="s", file="benchmarks_info.csv"
    ).benchmarks
    assert info.height == 203
    assert info.filter(info["benchmark"] == "wmdp_bio")["higher_is_better"][0] is True
    assert info["higher_is_better"].null_count() == 5  # N/A, Parameters, FLOP, Type rows


GOOD = "model,mmlu,wmdp,model_size,FLOP,name,type\nm1,0.5,0.2,7e9,1e23,M1,base\nm2,0.6,,13e9,,M2,base\n"


def test_small_matrix_values_and_missing():
    scores, models, _ = parse_matrix(GOOD.encode(), source="s", file="f.csv")
    assert scores.sort("model_id", "benchmark").rows() == [
        ("m1", "mmlu", 0.5, 2),
        ("m1", "wmdp", 0.2, 2),
        ("m2", "mmlu", 0.6, 3),
        ("m2", "wmdp", None, 3),
    ]
    assert models["training_flop"].to_list() == [1e23, None]


@pytest.mark.parametrize(
    "text, line, message",
    [
        (GOOD.replace("0.6", "zero.six"), 3, "column 'mmlu': 'zero.six' is not a number"),
        (GOOD[:-10] + "\n", 3, "4 fields where the header has 7"),
        (GOOD.rstrip("\n"), 3, "does not end with a line end"),
        (GOOD.replace("m2,", "m1,"), 3, "already on line 2 with other values"),
        (GOOD.replace(",FLOP", ",flops"), 1, r"missing column\(s\) \['FLOP'\]"),
        (GOOD.replace("0.5", "inf"), 2, "not a finite number"),
        (GOOD.replace("M1", '"M1'), 3, "malformed CSV: unexpected end of data"),
    ],
)
def test_bad_matrix_names_source_file_and_line(text, line, message):
    with pytest.raises(ParseError, match=message) as info:
        parse_matrix(text.encode(), source="src", file="bad.csv")
    assert info.value.line == line
    assert str(info.value).startswith(f"source 'src', file 'bad.csv', line {line}:")


def test_not_utf8():
    with pytest.raises(ParseError, match="not UTF-8") as info:
        parse_matrix(GOOD.encode() + b"m3,\xff\n", source="s", file="f")
    assert info.value.line == 4
