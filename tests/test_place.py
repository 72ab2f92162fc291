"""`safetywash place`: a population model's own published inputs, written as lm-evaluation-harness results,
placed back in its analysis give its published score, rank and residuals; bad files are refused in one line."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from assets.placement import place, read_results
from assets.warehouse import Store, query_frame
from orchestration.cli import app

pytestmark = pytest.mark.integration

ANALYSIS = "open_llm_v1"
TASKS = {
    "arc": ("arc_challenge", "acc_norm,none", 25),
    "hellaswag": ("hellaswag", "acc_norm,none", 10),
    "mmlu": ("mmlu", "acc,none", 5),
    "winogrande": ("winogrande", "acc,none", 5),
    "gsm8k": ("gsm8k", "exact_match,strict-match", 5),
    "truthfulqa": ("truthfulqa_mc2", "acc,none", 0),
}


@pytest.fixture(scope="module")
def published(every_source):
    """One model of the analysis's newest snapshot, near the middle of its scores, with its published rows."""
    root = every_source["root"]
    with Store(root).read() as con:
        snapshot = con.execute("select snapshot from marts.analyses where analysis = ?", [ANALYSIS]).fetchone()[0]
        scores = query_frame(
            con,
            "select model_id, capabilities_score from marts.capabilities_scores "
            "where analysis = ? and snapshot = ? order by capabilities_score, model_id",
            [ANALYSIS, snapshot],
        )
        model = scores["model_id"][scores.height // 3]
        values = dict(
            con.execute(
                "select benchmark, value from marts.scores where source = 'open_llm_v1' and snapshot = ? "
                "and model_id = ?",
                [snapshot, model],
            ).fetchall()
        )
        residual = query_frame(
            con,
            "select observed, expected, residual, residual_z from marts.safety_residuals "
            "where analysis = ? and benchmark = 'truthfulqa' and model_id = ?",
            [ANALYSIS, model],
        )
    score = scores.filter(scores["model_id"] == model)["capabilities_score"][0]
    population = scores["capabilities_score"].to_numpy()
    return {
        "root": root,
        "model": model,
        "values": values,
        "score": score,
        "residual": residual.row(0, named=True),
        "rank": 1 + int((population > score + 1e-9).sum()),
        "n": scores.height,
    }


def harness_file(path, values: dict[str, float], model: str, n_shot: dict[str, int] | None = None):
    """A results_*.json as lm-evaluation-harness 0.4 writes it: results per task ("<metric>,<filter>" keys, in
    [0, 1]), the MMLU group over its subtasks, n-shot per leaf task, configs, versions and the run's config."""
    results, shots, configs = {}, {}, {}
    for bench, value in values.items():
        task, key, shots_default = TASKS[bench]
        metric = key.split(",")[0]
        results[task] = {"alias": task, key: value / 100, key.replace(",", "_stderr,"): 0.01}
        if metric == "acc_norm":
            results[task].update({"acc,none": value / 100 - 0.02, "acc_stderr,none": 0.01})
        if task == "gsm8k":
            results[task]["exact_match,flexible-extract"] = value / 100 + 0.01
        n = (n_shot or {}).get(task, shots_default)
        if task == "mmlu":
            for leaf in ("mmlu_abstract_algebra", "mmlu_business_ethics"):
                results[leaf] = {"alias": f" - {leaf}", "acc,none": value / 100, "acc_stderr,none": 0.05}
                shots[leaf] = n
                configs[leaf] = {"task": leaf, "num_fewshot": n, "output_type": "multiple_choice"}
        else:
            shots[task] = n
            configs[task] = {"task": task, "num_fewshot": n, "output_type": "multiple_choice"}
    doc = {
        "results": results,
        "groups": {"mmlu": results["mmlu"]} if "mmlu" in results else {},
        "group_subtasks": {
            "mmlu": ["mmlu_stem", "mmlu_other"],
            "mmlu_stem": ["mmlu_abstract_algebra"],
            "mmlu_other": ["mmlu_business_ethics"],
        }
        if "mmlu" in results
        else {},
        "configs": configs,
        "versions": {t: 1.0 for t in results},
        "n-shot": shots,
        "higher_is_better": {t: {"acc": True} for t in results},
        "n-samples": {},
        "config": {"model": "hf", "model_args": f"pretrained={model}", "batch_size": "auto", "device": "cuda:0"},
        "git_hash": "0123abc",
        "date": 1733500000.0,
        "model_name": model,
        "lm_eval_version": "0.4.8",
    }
    path.write_text(json.dumps(doc, indent=2))
    return path


def two_files(tmp_path, published, n_shot=None, drop=()):
    values = {b: v for b, v in published["values"].items() if b not in drop}
    first = {b: v for b, v in values.items() if b in ("arc", "hellaswag", "mmlu")}
    rest = {b: v for b, v in values.items() if b not in first}
    return [
        harness_file(tmp_path / "results_2026-12-07T10-00-00.json", first, published["model"], n_shot),
        harness_file(tmp_path / "results_2026-12-07T11-00-00.json", rest, published["model"], n_shot),
    ]


def test_a_population_model_placed_back_gets_its_published_score_rank_and_residual(tmp_path, published):
    files = two_files(tmp_path, published)
    with Store(published["root"]).read() as con:
        result = place(con, ANALYSIS, read_results(files))
    assert result.score == pytest.approx(published["score"], abs=1e-9)
    assert result.rank == published["rank"] and result.n_models == published["n"]
    [target] = result.residuals.to_dicts()
    assert target["benchmark"] == "truthfulqa" and target["area"] == "misconceptions"
    for column in ("observed", "expected", "residual", "residual_z"):
        assert target[column] == pytest.approx(published["residual"][column], abs=1e-9)
    assert (
        result.inputs["file"].to_list() == [str(files[0])] * 3 + [str(files[1])] * 2
    )  # arc, hellaswag, mmlu | winogrande, gsm8k
    out = CliRunner().invoke(
        app, ["place", *map(str, files), "--analysis", ANALYSIS, "--warehouse", str(published["root"])]
    )
    assert out.exit_code == (3 if target["residual_z"] <= -1 else 0), out.output
    assert f"capabilities score {published['score']:+.6f}: rank {published['rank']} of {published['n']}" in out.output


def test_the_score_is_the_published_standardisation_and_loadings_not_a_refit(tmp_path, published):
    """Raising one input by one population standard deviation moves the score by exactly its loading."""
    with Store(published["root"]).read() as con:
        loading = con.execute(
            "select loading from marts.capabilities_components where analysis = ? and benchmark = 'arc' "
            "and snapshot = (select snapshot from marts.analyses where analysis = ?)",
            [ANALYSIS, ANALYSIS],
        ).fetchone()[0]
        arc = con.execute(
            "select value from marts.capabilities_scores c join marts.scores s using (model_id, snapshot) "
            "where c.analysis = ? and c.capabilities_score is not null and s.source = 'open_llm_v1' "
            "and s.benchmark = 'arc'",
            [ANALYSIS],
        ).fetchall()
        moved = dict(published["values"], arc=published["values"]["arc"] + float(np.std([v for (v,) in arc])))
        (tmp_path / "moved").mkdir()
        result = place(con, ANALYSIS, read_results([harness_file(tmp_path / "moved" / "results.json", moved, "m")]))
    assert result.score - published["score"] == pytest.approx(loading, abs=1e-9)


@pytest.mark.parametrize(
    "case, message",
    [
        ("n_shot", "task 'arc_challenge' ran 5-shot; arc is arc_challenge 25-shot acc_norm (filter none): refused"),
        (
            "missing",
            "error: task 'gsm8k' (gsm8k: gsm8k 5-shot exact_match (filter strict-match)) is in none of the files",
        ),
        ("analysis", "error: unknown analysis 'no_such_analysis'; the published version has "),
        ("json", "results_bad.json, line 3, column 1: not JSON: "),
        (
            "unmapped",
            "error: analysis 'safetywashing_chat': no reviewed lm-eval setting for its input(s) ['arc_challenge', ",
        ),
    ],
)
def test_bad_input_is_refused_in_one_line_with_exit_2(tmp_path, published, case, message):
    analysis = ANALYSIS
    if case == "n_shot":
        files = two_files(tmp_path, published, n_shot={"arc_challenge": 5})
    elif case == "missing":
        files = two_files(tmp_path, published, drop=("gsm8k",))
    elif case == "analysis":
        files, analysis = two_files(tmp_path, published), "no_such_analysis"
    elif case == "unmapped":  # the paper's data were gathered from many setups: no harness setting stands for them
        files, analysis = two_files(tmp_path, published), "safetywashing_chat"
    else:
        files = [tmp_path / "results_bad.json"]
        files[0].write_text('{"results": {\n  "arc_challenge": {"acc_norm,none": 0.5},\n}\n')
    out = CliRunner().invoke(
        app, ["place", *map(str, files), "--analysis", analysis, "--warehouse", str(published["root"])]
    )
    assert out.exit_code == 2, out.output
    assert message in out.stderr and out.stderr.count("\n") == 1, out.stderr
