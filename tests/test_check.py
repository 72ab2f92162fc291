"""`safetywash check`: a column of the paper's data gives back the warehouse's row; unknown names are listed
and too few matches fail; bad rows are named."""

import polars as pl
import pytest
from typer.testing import CliRunner

from assets.check import check, read_scores
from assets.warehouse import Store, query_frame
from conftest import SW_DATA
from orchestration.cli import app

pytestmark = pytest.mark.integration


def column_csv(path, benchmark, rename=None, higher_is_better=None):
    frame = (
        pl.read_csv(SW_DATA / "benchmarks_chat_models.csv")
        .select("model", pl.col(benchmark).alias("score"))
        .drop_nulls()
    )
    if rename:
        frame = frame.with_columns(pl.col("model").replace(rename))
    if higher_is_better is not None:
        frame = frame.with_columns(score=-pl.col("score"), higher_is_better=pl.lit(higher_is_better))
    frame.write_csv(path)
    return path


@pytest.mark.parametrize("benchmark", ["MT_Bench", "wmdp_bio"])
def test_a_column_of_the_papers_data_reproduces_its_published_row(refreshed, tmp_path, benchmark):
    path = column_csv(tmp_path / f"{benchmark}.csv", benchmark)
    with Store(refreshed).read() as con:
        result = check(con, read_scores(path.read_bytes(), str(path)), "safetywashing_chat")
        published = query_frame(
            con,
            f"""select versus, n_models, spearman, ci_low, ci_high, p_value from marts.benchmark_correlations
            where analysis = 'safetywashing_chat' and benchmark = '{benchmark}' and versus in ('capabilities', 'compute')
            order by versus""",
        )
    got = result.correlations.sort("versus").select(published.columns)
    assert got.equals(published)  # same population, B, seed and refits: the same numbers, bit for bit
    assert result.unmatched.is_empty() and result.matched.height == published["n_models"][0]


def test_the_cli_prints_the_verdict_and_exits_for_ci(refreshed, tmp_path):
    high = column_csv(tmp_path / "mt.csv", "MT_Bench")
    out = CliRunner().invoke(app, ["check", str(high), "--warehouse", str(refreshed)])
    assert out.exit_code == 3, out.output  # tracks capabilities
    assert "analysis safetywashing_chat" in out.output and "verdict: HIGH capabilities correlation 0.79" in out.output
    flipped = column_csv(tmp_path / "flipped.csv", "MT_Bench", higher_is_better="false")  # lower printed = better
    assert "spearman +0.787" in CliRunner().invoke(app, ["check", str(flipped), "--warehouse", str(refreshed)]).output


def test_unknown_names_are_listed_and_too_few_matches_fail(refreshed, tmp_path):
    names = pl.read_csv(SW_DATA / "benchmarks_chat_models.csv")["model"].to_list()
    rename = {n: f"{n}-my-finetune" for n in names[4:]}  # only four names stay known
    path = column_csv(tmp_path / "mine.csv", "MT_Bench", rename=rename)
    out = CliRunner().invoke(
        app, ["check", str(path), "--warehouse", str(refreshed), "--analysis", "safetywashing_chat"]
    )
    assert out.exit_code == 4, out.output
    assert "only 4 models matched analysis 'safetywashing_chat'" in out.output
    assert f"unmatched {names[4]}-my-finetune" in out.output


def test_bad_rows_are_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("model,score\na,1\nb,x\n")
    out = CliRunner().invoke(app, ["check", str(path)])
    assert out.exit_code == 2 and f"{path}, line 3: score 'x' of 'b' is not a number" in out.output
    path.write_text("name,score\na,1\n")
    assert "missing column(s) ['model']" in CliRunner().invoke(app, ["check", str(path)]).output


def test_two_spellings_of_one_model_are_refused_naming_both_lines(refreshed, tmp_path):
    path = column_csv(tmp_path / "twice.csv", "MT_Bench")
    rows = path.read_text().splitlines()
    name = "Llama-2-13b-chat-hf"
    path.write_text("\n".join(rows + [f"{name.upper()},5.0"]) + "\n")
    out = CliRunner().invoke(app, ["check", str(path), "--warehouse", str(refreshed)])
    assert out.exit_code == 2, out.output
    line = 1 + next(i for i, r in enumerate(rows) if r.startswith(name + ","))
    assert (
        f"error: {path}, lines {line} and {len(rows) + 1}: {name!r} and 'LLAMA-2-13B-CHAT-HF' are one model "
        "(model_key 'llama-2-13b-chat'); keep one row per model"
    ) in out.output


def test_matched_counts_distinct_models_and_equals_n(refreshed, tmp_path):
    path = column_csv(tmp_path / "mt.csv", "MT_Bench")
    out = CliRunner().invoke(app, ["check", str(path), "--warehouse", str(refreshed)])
    n = len(path.read_text().splitlines()) - 1
    assert f"{n} of {n} models matched" in out.output and f"versus capabilities  n={n} " in out.output


@pytest.mark.parametrize(
    "data, message",
    [
        (b"model,score\n", ": no rows after the header; a check needs model, score rows"),
        (b"model,score\na,1\nb,2,3\n", ", line 3: 3 field(s), the header has 2"),
        (b"model,score\na,1\n\xff\xd8\xff\xe0garbage\n", ", line 3: not UTF-8 (byte 16: b'\\xff'); save it as UTF-8"),
        (
            "model,score\na,1\n".encode("utf-16"),
            ": not UTF-8: it starts with a UTF-16 byte-order mark; save it as UTF-8",
        ),
        ("model,score\na,1\n".encode("utf-16-le"), ", line 1: a NUL character: not a UTF-8 text CSV"),
        (b'model,score\n"a,1\n', ", line 2: not a readable CSV row (unexpected end of data)"),
    ],
    ids=["header-only", "ragged", "garbage", "utf-16", "utf-16-no-bom", "open-quote"],
)
def test_unreadable_files_exit_2_naming_the_line(tmp_path, data, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    out = CliRunner().invoke(app, ["check", str(path)])
    assert out.exit_code == 2, out.output
    assert f"error: {path}{message}" in out.output
