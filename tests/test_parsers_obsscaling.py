"""The ObsScaling adapter on the real mirrored files."""

import csv
import json

import pytest

from assets.parsers import ParseError
from assets.parsers.obsscaling import parse_obsscaling
from conftest import MIRROR

pytestmark = pytest.mark.unit

EVAL = MIRROR / "raw.githubusercontent.com/ryoungj/ObsScaling/4d6e1e43fd2635d04654aa77d1df9d5266ea0382/eval_results"


def test_base_models_with_flops_in_units_of_1e21():
    path = EVAL / "base_llm_benchmark_eval.csv"
    parsed = parse_obsscaling(path.read_bytes(), source="obsscaling", file=path.name)
    assert parsed.models.height == 148 and parsed.benchmarks.height == 8
    llama = json.loads(parsed.models.filter(model_id="meta-llama/Llama-2-7b-hf")["attributes"][0])
    assert llama == {"family": "Llama-2", "params_billions": 7.0, "tokens_trillions": 2.0, "training_flop": 84.0 * 1e21}
    mmlu = parsed.scores.filter(model_id="meta-llama/Llama-2-7b-hf", benchmark="MMLU")["value"][0]
    assert mmlu == 0.4379609636092418
    with open(path, newline="", encoding="utf-8") as fh:
        empty = sum(
            r[c] == ""
            for r in csv.DictReader(fh)
            for c in ("MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd", "HumanEval")
        )
    assert parsed.scores["value"].null_count() == empty == 40  # missing cells kept as nulls


@pytest.mark.parametrize("name, rows", [("base_llm_emergent_capability_eval.csv", 84)])
def test_a_file_without_a_final_newline_is_read_whole(name, rows):
    path = EVAL / name
    data = path.read_bytes()
    assert not data.endswith(b"\n")
    parsed = parse_obsscaling(data, source="obsscaling", file=name)
    assert parsed.models.height == rows
    last = data.decode().splitlines()[-1].split(",")
    assert parsed.scores.filter(model_id=last[0], benchmark="arithmetic_2da_2_acc")["value"][0] == float(last[-1])
    assert dict(parsed.benchmarks.select("benchmark", "scale").iter_rows())["ipa_transliterate_2_bleu"] == "bleu"


def test_declared_scales_and_an_undeclared_file_refused():
    path = EVAL / "instruct_llm_benchmark_eval.csv"
    parsed = parse_obsscaling(path.read_bytes(), source="obsscaling", file=path.name)
    arena = parsed.benchmarks.filter(benchmark="Arena-Elo").row(0, named=True)
    assert arena["scale"] == "fraction" and "rescaled to 0-1" in arena["description"]
    agent = parse_obsscaling(
        (EVAL / "instruct_llm_agent_eval.csv").read_bytes(), source="obsscaling", file="instruct_llm_agent_eval.csv"
    )
    assert dict(agent.benchmarks.select("benchmark", "scale").iter_rows())["ABench-Code_OS"] == "percent"
    post = EVAL / "base_llm_post_training_eval.csv"
    with pytest.raises(ParseError, match="no scales are declared for this file"):
        parse_obsscaling(post.read_bytes(), source="obsscaling", file=post.name)
