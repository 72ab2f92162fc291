"""The analyses file: the shipped one, and generated bad ones refused naming the file, analysis and field."""

import pytest

from assets.analyses import ANALYSES_FILE, AnalysisError, load_analyses

pytestmark = pytest.mark.unit

GOOD = """
[[analyses]]
name = "{name}"
description = "d"
source = "{source}"
model_set = "chat"
{extra}
"""


def write(tmp_path, text):
    path = tmp_path / "analyses.toml"
    path.write_text(text)
    return path


def test_the_shipped_file_holds_the_papers_analyses_and_the_cross_source_ones():
    analyses = {a.name: a for a in load_analyses(ANALYSES_FILE)}
    assert [(a.name, a.source, a.model_set, a.capability_inputs, a.targets, a.missing) for a in analyses.values()][
        :2
    ] == [
        ("safetywashing_base", "safetywashing", "base", "taxonomy", "all", "complete_case"),
        ("safetywashing_chat", "safetywashing", "chat", "taxonomy", "all", "complete_case"),
    ]
    assert list(analyses)[2:] == [
        "obsscaling_paper",
        "obsscaling_base",
        "open_llm_v1",
        "arena_vs_epoch",
        "lm_eval_results",
    ]
    paper = analyses["obsscaling_paper"]
    # ObsScaling's utils/constants.py at the pinned commit: 28 evaluated families, 20 pre-registered models held out
    assert (
        paper.capabilities_method,
        paper.missing,
        paper.impute_components,
        paper.impute_bounds,
        len(paper.families),
        len(paper.exclude_models),
    ) == ("obsscaling", "pca_impute", 1, (0.0, 1.0), 28, 20)
    assert "TruthfulQA" not in analyses["obsscaling_base"].capability_inputs
    arena = analyses["arena_vs_epoch"]
    assert (arena.snapshot, str(arena.since), arena.inputs_source) == ("each", "2024-10-01", "epoch_hub")


@pytest.mark.parametrize(
    "text, message",
    [
        (GOOD.format(name="x", source="nowhere", extra=""), r"analyses\[0\] \(x\): source 'nowhere' is not registered"),
        (GOOD.format(name="Bad-Name", source="arena", extra=""), r"\(Bad-Name\): name: Value error, must be lowercase"),
        (
            GOOD.format(name="x", source="arena", extra='missing = "guess"'),
            r"\(x\): missing: Input should be 'complete_case' or 'pca_impute'",
        ),
        (
            GOOD.format(name="x", source="arena", extra='inputs_source = "nowhere"\ncapability_inputs = ["a", "b"]'),
            r"\(x\): inputs_source 'nowhere' is not registered",
        ),
        (
            GOOD.format(name="x", source="arena", extra='inputs_source = "epoch_hub"'),
            r"\(x\): Value error, with inputs_source, list",
        ),
        (
            GOOD.format(name="x", source="arena", extra="since = 2024-10-01"),
            r"\(x\): Value error, since applies to snapshot = 'each'",
        ),
        (
            GOOD.format(name="x", source="arena", extra="resamples = 1"),
            r"\(x\): resamples: Input should be greater than or equal to 2",
        ),
        (
            GOOD.format(name="x", source="arena", extra='bootstrap_imputation = "sometimes"'),
            r"\(x\): bootstrap_imputation: Input should be 'per_resample' or 'once'",
        ),
        (
            GOOD.format(name="x", source="arena", extra='colour = "red"'),
            r"\(x\): colour: Extra inputs are not permitted",
        ),
        (
            GOOD.format(name="x", source="arena", extra='exclude_models = ["a", "a"]'),
            r"\(x\): exclude_models: Value error, list each model once, by its model_id",
        ),
        (
            GOOD.format(name="x", source="arena", extra="") * 2,
            r"analyses\[1\] \(x\): name 'x' repeats an earlier analysis",
        ),
        ("[[analysis]]\nname = 'x'\n", r"unknown top-level key\(s\) \['analysis'\]"),
        ("[[analyses]\n", "cannot be read as TOML"),
    ],
)
def test_bad_files_are_refused_by_name(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(AnalysisError, match=message) as info:
        load_analyses(path)
    assert str(info.value).startswith(str(path))
