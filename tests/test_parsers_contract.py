"""The parser contract, rule by rule, on generated input; then a whole refresh of a reshaped file."""

import csv
import io
import shutil

import polars as pl
import pytest

from assets.parsers import ParseError
from assets.parsers.contract import read_table
from assets.parsers.safetywashing import parse_matrix
from assets.warehouse import Store, query_frame
from conftest import MIRROR, SW_DATA, land_as_own_snapshot, materialize_all

pytestmark = pytest.mark.integration

HEADER = ["model", "mmlu", "MT_Bench", "model_size", "FLOP", "name", "type"]
ROWS = [["m1", "0.5", "7.1", "7e9", "1e23", "M1", "chat"], ["m2", "0.6", "", "13e9", "", "M2", "chat"]]


def csv_bytes(header=HEADER, rows=ROWS, newline="\n", bom=False) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows([header, *rows])
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()


def parsed(data: bytes):
    scores, models, dropped = parse_matrix(data, source="src", file="f.csv")
    return scores.drop("line").sort("model_id", "benchmark"), models.drop("line").sort("model_id"), dropped


def test_columns_are_found_by_name_in_any_order():
    order = [6, 2, 0, 5, 1, 4, 3]
    reordered = csv_bytes([HEADER[i] for i in order], [[r[i] for i in order] for r in ROWS])
    got, expected = parsed(reordered), parsed(csv_bytes())
    assert got[0].equals(expected[0]) and got[1].equals(expected[1])
    scores, _, _ = got
    assert scores.filter(model_id="m1", benchmark="MT_Bench")["value"][0] == 7.1


def test_bom_and_crlf_are_accepted():
    expected = parsed(csv_bytes())
    for data in (csv_bytes(bom=True), csv_bytes(newline="\r\n"), csv_bytes(newline="\r\n", bom=True)):
        got = parsed(data)
        assert got[0].equals(expected[0]) and got[1].equals(expected[1])


def test_exact_duplicate_rows_are_dropped_and_counted():
    scores, models, dropped = parsed(csv_bytes(rows=[*ROWS, ROWS[0], ROWS[1], ROWS[0]]))
    assert dropped == [4, 5, 6] and models.height == 2 and scores.height == 4


def test_conflicting_duplicates_are_refused_naming_both_lines():
    other = [*ROWS, ["m1", "0.5", "7.2", "7e9", "1e23", "M1", "chat"]]
    with pytest.raises(
        ParseError, match=r"line 4: \{'model': 'm1'\} already on line 2 with other values \(columns \['MT_Bench'\]\)"
    ):
        parse_matrix(csv_bytes(rows=other), source="src", file="f.csv")


@pytest.mark.parametrize("cell", ["1_000", "٣", "0x10", "1,5", "1.2.3", "e5", "--1", "½"])
def test_numbers_are_parsed_strictly(cell):
    rows = [ROWS[0][:1] + [cell] + ROWS[0][2:], ROWS[1]]
    with pytest.raises(ParseError, match=rf"line 2: column 'mmlu': {cell!r} is not a number"):
        parse_matrix(csv_bytes(rows=rows), source="src", file="f.csv")


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-Infinity", "+inf"])
def test_non_finite_numbers_are_refused(cell):
    rows = [ROWS[0][:1] + [cell] + ROWS[0][2:], ROWS[1]]
    with pytest.raises(ParseError, match="is not a finite number"):
        parse_matrix(csv_bytes(rows=rows), source="src", file="f.csv")


@pytest.mark.parametrize("cell, value", [("1e5", 1e5), ("+.5", 0.5), ("-3.", -3.0), (" 0.25 ", 0.25), ("7E-2", 0.07)])
def test_plain_ascii_numbers_are_read(cell, value):
    rows = [ROWS[0][:1] + [cell] + ROWS[0][2:], ROWS[1]]
    scores, _, _ = parsed(csv_bytes(rows=rows))
    assert scores.filter(model_id="m1", benchmark="mmlu")["value"][0] == value


def test_header_names_are_stripped_and_empty_names_refused():
    spaced = csv_bytes([" model", "mmlu ", " MT_Bench", *HEADER[3:]])
    assert sorted(parsed(spaced)[0]["benchmark"].unique()) == ["MT_Bench", "mmlu"]
    trailing = csv_bytes([*HEADER, ""], [[*r, ""] for r in ROWS])  # a trailing comma on every line
    with pytest.raises(ParseError, match=r"line 1: column\(s\) \[8\] have an empty name"):
        parse_matrix(trailing, source="src", file="f.csv")
    with pytest.raises(ParseError, match=r"line 1: duplicate column\(s\) \['mmlu'\]"):
        parse_matrix(csv_bytes([" mmlu" if c == "MT_Bench" else c for c in HEADER]), source="src", file="f.csv")


def test_the_contract_is_one_function_for_every_format():
    table = read_table(b"id,x\r\n a ,1\r\na,1\r\n", source="s", file="f", required=["x"], key=["id"])
    assert table.header == ["id", "x"] and table.rows == [(2, ["a", "1"])] and table.duplicate_lines == [3]


def reshaped_mirror(tmp_path):
    """The paper's chat matrix as a live source might serve it: BOM, CRLF, columns reversed, one row
    twice, and a column no one describes yet."""
    mirror = tmp_path / "mirror"
    rel = SW_DATA.relative_to(MIRROR)
    shutil.copytree(SW_DATA, mirror / rel)
    path = mirror / rel / "benchmarks_chat_models.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    rows = [list(reversed(r)) + [v] for r, v in zip(rows, ["new_metric", *map(str, range(len(rows) - 1))])]
    rows.append(rows[3])
    path.write_bytes(csv_bytes(rows[0], rows[1:], newline="\r\n", bom=True))
    return mirror


def test_a_reshaped_file_gives_the_same_analysis_and_counts_what_it_set_aside(refreshed, tmp_path):
    root = tmp_path / "warehouse"
    assert land_as_own_snapshot(root, reshaped_mirror(tmp_path)).success
    result = materialize_all(root, sources=())
    assert result.success
    with Store(root).read() as con:
        log = query_frame(con, "select file, duplicate_rows_dropped, duplicate_lines from raw.parse_log order by file")
        known = dict(
            con.execute("select benchmark, is_known from marts.benchmarks where benchmark = 'new_metric'").fetchall()
        )
        got = query_frame(
            con, "select * exclude (source_sha256, snapshot) from marts.benchmark_correlations order by all"
        )
    assert log.rows() == [
        ("benchmarks_base_models.csv", 0, []),
        ("benchmarks_chat_models.csv", 1, [28]),
        ("benchmarks_info.csv", 0, []),
    ]
    assert known == {"new_metric": False}  # kept and flagged, left out of the analysis:
    with Store(refreshed).read() as con:
        expected = query_frame(
            con, "select * exclude (source_sha256, snapshot) from marts.benchmark_correlations order by all"
        )
    assert got.equals(expected)
    summary = result.asset_materializations_for_node("marts__benchmark_correlations")[0].metadata
    assert summary["n_benchmarks_excluded_unknown"].value == 1
    assert pl.Series(got["benchmark"]).is_in(["new_metric"]).sum() == 0
