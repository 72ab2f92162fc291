"""The Open LLM Leaderboard adapters (v2, v1) on the real mirrored files, and on bad inputs."""

import csv
import json

import pytest

from assets.parsers import ParseError
from assets.parsers.open_llm import parse_open_llm_v1, parse_open_llm_v2
from conftest import MIRROR

pytestmark = pytest.mark.unit

HF = MIRROR / "raw.githubusercontent.com/fboulnois/llm-leaderboard-csv"
V2 = HF / "0f4e5c69c6fb6515afa31ae61f4d699649bc9503/csv/huggingface_v2.csv"
V2_OLDER = HF / "c658466adab328efb9c8414632c608b57aaf6a3c/csv/huggingface_v2.csv"
V1 = HF / "0f4e5c69c6fb6515afa31ae61f4d699649bc9503/csv/huggingface_v1.csv"


def rows_of(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("path", [V2, V2_OLDER])
def test_v2_keeps_every_evaluation_of_a_repeated_model_name(path):
    parsed = parse_open_llm_v2(path.read_bytes(), source="open_llm_v2", file=path.name)
    raw = rows_of(path)
    assert parsed.models.height == len(raw) and parsed.scores.height == len(raw) * 12
    names = [json.loads(a)["model_name"] for a in parsed.models["attributes"]]
    repeated = {n for n in names if names.count(n) > 1}
    assert len(repeated) == len(
        {r["model_name"] for r in raw if [x["model_name"] for x in raw].count(r["model_name"]) > 1}
    )
    assert len(repeated) > 50  # one name, several precisions or commits: separate evaluations, not duplicates


def test_v2_raw_fractions_and_normalised_percent():
    parsed = parse_open_llm_v2(V2.read_bytes(), source="open_llm_v2", file=V2.name)
    model = "0-hero/Matter-0.2-7B-DPO_bfloat16_26a66f0d862e2024ce4ad0a09c37052ac36e8af6_True"
    got = dict(parsed.scores.filter(model_id=model).select("benchmark", "value").iter_rows())
    assert got["ifeval"] == 0.330279214705869 and got["ifeval_normalized"] == 33.0279214705869
    scales = dict(parsed.benchmarks.select("benchmark", "scale").iter_rows())
    assert scales["mmlu_pro"] == "fraction" and scales["mmlu_pro_normalized"] == "percent"
    fractions = parsed.scores.filter(
        parsed.scores["benchmark"].is_in(["ifeval", "bbh", "math", "gpqa", "musr", "mmlu_pro"])
    )
    assert fractions["value"].min() >= 0 and fractions["value"].max() <= 1


def test_v2_unknown_parameter_counts_are_null_not_negative():
    parsed = parse_open_llm_v2(V2.read_bytes(), source="open_llm_v2", file=V2.name)
    raw = {r["id"]: r["metadata_params_billions"] for r in rows_of(V2)}
    params = {
        m: json.loads(a)["params_billions"] for m, a in parsed.models.select("model_id", "attributes").iter_rows()
    }
    unknown = [m for m, p in raw.items() if p in ("-1", "0")]
    assert len(unknown) == 10 and all(params[m] is None for m in unknown)
    assert all(p is None or p > 0 for p in params.values())


def test_v1_percent_scores_keyed_by_name_precision_and_commit():
    parsed = parse_open_llm_v1(V1.read_bytes(), source="open_llm_v1", file=V1.name)
    raw = rows_of(V1)
    assert parsed.models.height == len(raw) == 7169 and parsed.scores.height == 6 * len(raw)
    multi = parsed.models.filter(parsed.models["model_id"].str.starts_with("MTSAIR/MultiVerse_70B_"))
    assert multi.height == 2  # bfloat16 and float16 of one commit
    first = raw[0]
    key = f"{first['fullname']}_{first['precision']}_{first['model_sha']}"
    assert parsed.scores.filter(model_id=key, benchmark="mmlu")["value"][0] == float(first["mmlu"]) == 77.81
    assert set(parsed.benchmarks["scale"]) == {"percent"}
    no_commit = [r for r in raw if not r["model_sha"]]
    assert no_commit and parsed.models.filter(parsed.models["model_id"].str.ends_with("_")).height == len(no_commit)


V1_HEAD = "t,model,average,arc,hellaswag,mmlu,truthfulqa,winogrande,gsm8k,precision,params_b,model_sha,fullname\n"
V1_ROW = "x,m,50,40,60,50,45,70,30,float16,7,abc,org/m\n"


@pytest.mark.parametrize(
    "data, line, message",
    [
        (V1_HEAD.encode(), None, "no model rows"),
        ((V1_HEAD + V1_ROW.replace(",40,", ",forty,")).encode(), 2, "column 'arc': 'forty' is not a number"),
        (
            (V1_HEAD + V1_ROW + V1_ROW.replace(",40,", ",41,")).encode(),
            3,
            r"already on line 2 with other values \(columns \['arc'\]\)",
        ),
        ((V1_HEAD.replace("fullname", "full_name") + V1_ROW).encode(), 1, r"missing column\(s\) \['fullname'\]"),
        ((V1_HEAD + V1_ROW.replace(",7,", ",-3,")).encode(), 2, "must be positive or -1/0"),
        ((V1_HEAD + V1_ROW.replace(",40,", ",NaN,")).encode(), 2, "not a finite number"),
    ],
)
def test_v1_bad_inputs(data, line, message):
    with pytest.raises(ParseError, match=message) as info:
        parse_open_llm_v1(data, source="open_llm_v1", file="v1.csv")
    assert info.value.line == line


def test_v2_without_its_evaluation_columns_is_refused():
    data = b"id,model_name,model_precision,model_sha,evaluations_bbh_value\na,b,c,d,0.5\n"
    with pytest.raises(ParseError, match=r"missing \['evaluations_bbh_normalized_score'\]"):
        parse_open_llm_v2(data, source="open_llm_v2", file="v2.csv")
