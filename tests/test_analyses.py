"""The analyses file: the shipped one, and generated bad ones refused naming the file, analysis and field."""

import pytest

from assets.analyses import ANALYSES_FILE, AnalysisError, load_analyses

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


def test_the_shipped_file_holds_the_papers_two_analyses():
    analyses = load_analyses(ANALYSES_FILE)
    assert [(a.name, a.source, a.model_set, a.capability_inputs, a.targets, a.missing) for a in analyses] == [
        ("safetywashing_base", "safetywashing", "base", "taxonomy", "all", "complete_case"),
        ("safetywashing_chat", "safetywashing", "chat", "taxonomy", "all", "complete_case"),
    ]


@pytest.mark.parametrize("text, message", [
    (GOOD.format(name="x", source="nowhere", extra=""), r"analyses\[0\] \(x\): source 'nowhere' is not registered"),
    (GOOD.format(name="Bad-Name", source="arena", extra=""), r"\(Bad-Name\): name: Value error, must be lowercase"),
    (GOOD.format(name="x", source="arena", extra='missing = "guess"'), r"\(x\): missing: Input should be 'complete_case'"),
    (GOOD.format(name="x", source="arena", extra='colour = "red"'), r"\(x\): colour: Extra inputs are not permitted"),
    (GOOD.format(name="x", source="arena", extra="") * 2, r"analyses\[1\] \(x\): name 'x' repeats an earlier analysis"),
    ("[[analysis]]\nname = 'x'\n", r"unknown top-level key\(s\) \['analysis'\]"),
    ("[[analyses]\n", "cannot be read as TOML"),
])
def test_bad_files_are_refused_by_name(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(AnalysisError, match=message) as info:
        load_analyses(path)
    assert str(info.value).startswith(str(path))
