"""`safetywash sql`: every DuckDB type prints in every format, results stream (a 10-million-row query in bounded
memory), a timeout and Ctrl-C each end the query with one line and their exit code."""

import pytest
import csv
import io
import json
import signal
import subprocess
import sys
import time

from typer.testing import CliRunner

from assets.warehouse import Store
from conftest import PROJECT
from orchestration.cli import app

pytestmark = pytest.mark.integration

TYPES = (
    "select [1, 2] as l, {'a': 1, 'b': [true]} as s, map {'k': 1.5} as m, "
    "interval 1 year + interval 3 day + interval 5 hour + interval 1500 millisecond as i, "
    "-interval 90 minute as j, [1, 2]::int[2] as a, 1.50::decimal(10, 2) as d, 'x'::blob as b, "
    "'nan'::double as f, null::integer as n, 'a,\"b' as q"
)


def run(refreshed, *args):
    # a terminal 160 columns wide (the width without one): a test worker may see one of its own
    return CliRunner().invoke(app, ["sql", "--warehouse", str(refreshed), *args], env={"COLUMNS": "160"})


def test_every_type_prints_as_csv(refreshed):
    out = run(refreshed, TYPES, "--format", "csv")
    assert out.exit_code == 0, out.output
    header, row = list(csv.reader(io.StringIO(out.stdout)))
    assert header == ["l", "s", "m", "i", "j", "a", "d", "b", "f", "n", "q"]
    assert row == [
        "[1,2]",
        '{"a":1,"b":[true]}',
        '{"k":1.5}',
        "P1Y3DT5H1.5S",
        "PT-1H-30M",
        "[1,2]",
        "1.50",
        "x",
        "NaN",
        "",
        'a,"b',
    ]


def test_every_type_prints_as_json(refreshed):
    out = run(refreshed, TYPES, "--format", "json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == [
        {
            "l": [1, 2],
            "s": {"a": 1, "b": [True]},
            "m": {"k": 1.5},
            "i": "P1Y3DT5H1.5S",
            "j": "PT-1H-30M",
            "a": [1, 2],
            "d": "1.50",
            "b": "x",
            "f": "NaN",
            "n": None,
            "q": 'a,"b',
        }
    ]


def test_every_type_prints_as_a_table(refreshed):
    out = run(refreshed, TYPES)
    assert out.exit_code == 0, out.output
    cells = [c.strip() for c in out.stdout.splitlines()[-3].strip("│").split("┆")]
    assert cells == [
        "[1,2]",
        '{"a":1,"b":[true]}',
        '{"k":1.5}',
        "P1Y3DT5H1.5S",
        "PT-1H-30M",
        "[1,2]",
        "1.50",
        "x",
        "NaN",
        "null",
        'a,"b',
    ]
    assert out.stdout.splitlines()[-1] == "1 of 1 row(s) shown"


def test_the_readmes_analyses_query_prints_in_every_format(refreshed):
    for fmt in ("csv", "json", "table"):
        out = run(refreshed, "select * from marts.analyses", "--format", fmt)
        assert out.exit_code == 0, (fmt, out.output)
    rows = list(csv.DictReader(io.StringIO(run(refreshed, "select * from marts.analyses", "-f", "csv").stdout)))
    with Store(refreshed).read() as con:  # the reference: DuckDB's own Python values of the list column
        expected = [r[0] for r in con.sql("select capability_inputs from marts.analyses").fetchall()]
    assert [json.loads(r["capability_inputs"]) for r in rows] == expected
    assert expected[0][:2] == ["arc_challenge", "bbh"] and len(rows) == len(expected) > 1


def test_the_table_shows_the_first_rows_and_counts_the_rest(refreshed):
    out = run(refreshed, "select range as i from range(1000)", "--limit", "5")
    lines = out.stdout.splitlines()
    assert lines[-1] == "5 of 1000 row(s) shown (--limit 1000 shows them all)"
    assert [line.strip("│ ") for line in lines[-7:-2]] == ["0", "1", "2", "3", "4"]
    assert (
        len(
            list(
                csv.reader(
                    io.StringIO(
                        run(refreshed, "select range as i from range(1000)", "-f", "csv", "--limit", "7").stdout
                    )
                )
            )
        )
        == 8
    )


def cli(refreshed, *args) -> subprocess.Popen:
    """The CLI in its own process, printing its peak memory (KiB) on stderr when it exits: VmHWM, the peak of
    this process's own memory (ru_maxrss would carry over the forking pytest's through exec)."""
    code = (
        "import re, sys\nfrom orchestration.cli import main\nsys.argv = ['safetywash'] + sys.argv[1:]\n"
        "try:\n    main()\nfinally:\n"
        "    peak = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
        "    print('maxrss', peak, file=sys.stderr)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, "sql", "--warehouse", str(refreshed), *args],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ten_million_rows_stream_in_bounded_memory(refreshed):
    query = "select range as i, 'model-' || range as name, random() as x from range(10000000)"
    proc = cli(refreshed, query)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == "40 of 10000000 row(s) shown (--limit 10000000 shows them all)"
    assert int(err.split("maxrss")[-1]) < 500 * 1024  # KiB (about 160 MB measured; the whole result is ~400 MB)


def test_a_timeout_cancels_the_query_in_one_line(refreshed):
    out = run(refreshed, "select sum(hash(range)) from range(100000000000)", "--timeout", "0.5")
    assert out.exit_code == 124
    assert out.output == "error: query cancelled after 0.5 s (--timeout)\n"


def test_ctrl_c_cancels_the_query_in_one_line_with_exit_130(refreshed):
    proc = cli(refreshed, "select sum(hash(range)) from range(100000000000)")
    time.sleep(4)  # imports, then the query runs for minutes
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert [line for line in err.splitlines() if not line.startswith("maxrss")] == [
        "error: query cancelled (interrupted)"
    ]
