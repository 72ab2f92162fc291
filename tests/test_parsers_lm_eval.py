"""The lm-evaluation-harness adapter on the real mirrored results file, and on bad inputs."""

import json

import pytest

from assets.parsers import ParseError
from assets.parsers.lm_eval import parse_lm_eval
from conftest import MIRROR

pytestmark = pytest.mark.unit

RESULTS = MIRROR / (
    "raw.githubusercontent.com/evaleval/every_eval_ever/9bce4136e789ec006c62582f5f9d107d20f8b398/"
    "tests/data/lm_eval/results_2026-01-21T03-44-18.458309.json"
)
MODEL = "RylanSchaeffer/mem_Qwen3-93M_minerva_math_rep_0_sbst_1.0000_epch_1_ot_1"


def test_real_results_file():
    parsed = parse_lm_eval(RESULTS.read_bytes(), source="lm_eval", file=RESULTS.name)
    rows = {r["benchmark"]: (r["value"], r["stderr"]) for r in parsed.scores.iter_rows(named=True)}
    assert rows == {
        "math_perturbed_full/exact_match": (0.0, 0.0),
        "math_rephrased_full/exact_match": (0.0004, 0.0002828144211304471),
    }
    assert set(parsed.scores["model_id"]) == {MODEL}
    attributes = json.loads(parsed.models["attributes"][0])
    assert (
        attributes["parameters"] == 93069280 and attributes["model_sha"] == "82047f5e5d5245c1b3a4cd75ad98aa441d6487cd"
    )
    assert parsed.benchmarks.select("scale", "higher_is_better").rows() == [("fraction", True)] * 2
    assert "0-shot" in parsed.benchmarks["description"][0]


def edited(change) -> bytes:
    doc = json.loads(RESULTS.read_text())
    change(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", r"not JSON"),
        (b'{"results": {', r"not JSON: Expecting property name"),
        (b"[1, 2]", "needs objects 'results' and 'config'"),
        (
            RESULTS.read_bytes().replace(b'"exact_match,none": 0.0004', b'"exact_match,none": NaN'),
            "NaN is not a finite number",
        ),
        (
            edited(lambda d: d["higher_is_better"].pop("math_rephrased_full")),
            "no higher_is_better for metric 'exact_match'; refusing to assume",
        ),
        (
            edited(lambda d: d["results"]["math_perturbed_full"].update({"exact_match,none": "high"})),
            "'high' is not a finite number",
        ),
        (edited(lambda d: d["config"].update({"model_args": "trust_remote_code=True"})), "names no model"),
        (RESULTS.read_text().encode("utf-16"), "not UTF-8|binary data"),
    ],
)
def test_bad_results_files(data, message):
    with pytest.raises(ParseError, match=message):
        parse_lm_eval(data, source="lm_eval", file="results.json")
