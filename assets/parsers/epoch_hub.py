"""Epoch AI Benchmarking Hub: one CSV per benchmark (as in Epoch's ``benchmark_data.zip``).

Every file shares ``Model version``, ``Release date``, ``Organization``, ``Country`` and ``Training compute
(FLOP)``; the score column's name, position and scale differ per file, so each file is declared in
:data:`HUB_FILES` (a file not declared there is refused, never guessed). Some names mislead: CAD-Eval's
``Overall pass (%)`` and Cybench's ``Unguided % Solved`` hold fractions. External files can hold several
rows per model (sources, shots, scaffolds): each row is one evaluation, keyed by the file's row id, with
the model version as an attribute; the staging layer decides which to use, visibly.
"""

from __future__ import annotations

from typing import NamedTuple

from .contract import read_table
from .leaderboard import Builder, Leaderboard

MODEL = "Model version"
ATTRIBUTES = {"Release date": "release_date", "Organization": "organization", "Country": "country"}
COMPUTE = "Training compute (FLOP)"


class HubFile(NamedTuple):
    score: str
    scale: str
    key: tuple[str, ...] = ("id",)
    stderr: str | None = None
    higher_is_better: bool = True
    may_be_empty: tuple[str, ...] = ()


_BEST = "Best score (across scorers)"
HUB_FILES: dict[str, HubFile] = {
    "adversarial_nli_external.csv": HubFile("Score", "fraction"),
    "aider_polyglot_external.csv": HubFile("Percent correct", "percent"),
    "arc_agi_external.csv": HubFile("Score", "fraction"),
    "arc_ai2_external.csv": HubFile("Challenge score", "fraction"),
    "balrog_external.csv": HubFile("Average progress", "fraction"),
    "bbh_external.csv": HubFile("Average", "fraction"),
    "bool_q_external.csv": HubFile("Score", "fraction"),
    "cad_eval_external.csv": HubFile("Overall pass (%)", "fraction"),
    "common_sense_qa_2_external.csv": HubFile("Score", "fraction"),
    "cybench_external.csv": HubFile("Unguided % Solved", "fraction"),
    "deepresearchbench_external.csv": HubFile("Average score", "fraction"),
    "epoch_capabilities_index.csv": HubFile("ECI Score", "score", (MODEL,)),
    "factorio_learning_environment_external.csv": HubFile("Production score", "score"),
    "fictionlivebench_external.csv": HubFile("120k token score", "fraction"),
    "frontiermath.csv": HubFile(_BEST, "fraction", stderr="stderr"),
    "frontiermath_tier_4.csv": HubFile(_BEST, "fraction", stderr="stderr"),
    "geobench_external.csv": HubFile("ACW Avg Score", "score"),
    "gpqa_diamond.csv": HubFile(_BEST, "fraction", stderr="stderr"),
    "gsm8k_external.csv": HubFile("EM", "fraction"),
    "gso_external.csv": HubFile("Score OPT@1", "fraction"),
    "hella_swag_external.csv": HubFile("Overall accuracy", "fraction"),
    "lambada_external.csv": HubFile("Score", "fraction"),
    "lech_mazur_writing_external.csv": HubFile("Mean score", "score_1_10", ("ID",)),
    "live_bench_external.csv": HubFile("Global average", "percent"),
    "math_level_5.csv": HubFile(_BEST, "fraction", stderr="stderr"),
    "metr_time_horizons_external.csv": HubFile("Time horizon", "minutes"),
    "mmlu_external.csv": HubFile("EM", "fraction"),
    "open_book_qa_external.csv": HubFile("Accuracy", "fraction"),
    "os_universe_external.csv": HubFile("Weighted Score", "fraction"),
    # 28 of its 44 rows are agent systems with no model version: kept, with an empty model version
    "os_world_external.csv": HubFile("Score", "percent", (MODEL, "Agent"), may_be_empty=(MODEL,)),
    "otis_mock_aime_2024_2025.csv": HubFile(_BEST, "fraction", stderr="stderr"),
    "piqa_external.csv": HubFile("Score", "fraction"),
    "science_qa_external.csv": HubFile("Score", "fraction"),
    "simplebench_external.csv": HubFile("Score (AVG@5)", "fraction"),
    "superglue_external.csv": HubFile("Score", "fraction"),
    "swe_bench_verified.csv": HubFile(_BEST, "fraction", stderr="stderr"),
    "terminalbench_external.csv": HubFile("Accuracy mean", "fraction", stderr="Accuracy SE"),
    "the_agent_company_external.csv": HubFile("% Score", "fraction", ("UUID",)),
    "trivia_qa_external.csv": HubFile("EM", "fraction"),
    "vpct_external.csv": HubFile("Correct", "fraction"),
    "webdev_arena_external.csv": HubFile("Arena Score", "elo"),
    "weirdml_external.csv": HubFile("Average", "fraction"),
    "wino_grande_external.csv": HubFile("Accuracy", "fraction"),
}


def benchmark_name(file: str) -> str:
    return file.removesuffix(".csv").removesuffix("_external")


def parse_epoch_hub(data: bytes, *, source: str, file: str) -> Leaderboard:
    """Parse one Benchmarking Hub file declared in :data:`HUB_FILES` into the long form; ``file`` may be
    a path inside ``benchmark_data.zip`` (``benchmark_data.zip/<name>.csv``): its base name decides."""
    name = file.rsplit("/", 1)[-1]
    spec = HUB_FILES.get(name)
    table = read_table(
        data,
        source=source,
        file=file,
        required=(MODEL, *(spec.key if spec else ()), *((spec.score,) if spec else ())),
        key=spec.key if spec else (MODEL,),
        may_be_empty=spec.may_be_empty if spec else (),
    )
    if spec is None:
        raise table.error(
            None, f"not a declared Benchmarking Hub file ({len(HUB_FILES)} are); refusing to guess its score column"
        )
    if not table.rows:
        raise table.error(None, "no model rows (header only)")
    col = {name: i for i, name in enumerate(table.header)}
    bench = benchmark_name(name)
    out = Builder()
    out.benchmark(bench, spec.score, spec.scale, spec.higher_is_better, f"Epoch AI Benchmarking Hub: {bench}")
    ci = ("CI_low", "CI_high") if {"CI_low", "CI_high"} <= set(col) else None
    for line, row in table.rows:
        evaluation = "/".join(row[col[k]] for k in spec.key)
        stderr = table.number(row[col[spec.stderr]], line, spec.stderr) if spec.stderr in col else None
        low, high = (table.number(row[col[c]], line, c) for c in ci) if ci else (None, None)
        out.score(
            evaluation,
            bench,
            table.number(row[col[spec.score]], line, spec.score),
            line,
            stderr=stderr,
            ci_low=low,
            ci_high=high,
        )
        out.model(
            evaluation,
            line,
            model_version=row[col[MODEL]] or None,
            training_flop=table.number(row[col[COMPUTE]], line, COMPUTE) if COMPUTE in col else None,
            **{name: row[col[c]] or None for c, name in ATTRIBUTES.items() if c in col},
        )
    return out.build(table.duplicate_lines)


MAX_ARCHIVE_BYTES = 256 * 2**20  # what benchmark_data.zip may expand to (it is ~2 MB today)


def read_hub_archive(data: bytes, *, source: str, file: str, max_bytes: int = MAX_ARCHIVE_BYTES) -> dict[str, bytes]:
    """The CSV files inside ``benchmark_data.zip``, by base name.

    Refuses an entry whose path leaves the archive root (absolute, or with ``..``), and an archive
    that expands past ``max_bytes`` (counted while decompressing: the sizes a header declares can lie).
    """
    import io
    import zipfile
    from pathlib import PurePosixPath

    from . import ParseError

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ParseError(source, file, None, f"not a zip archive ({exc})") from None
    out: dict[str, bytes] = {}
    total = 0
    with archive:
        for info in archive.infolist():
            path = PurePosixPath(info.filename.replace("\\", "/"))
            if path.is_absolute() or ".." in path.parts or (path.parts and path.parts[0].endswith(":")):
                raise ParseError(source, file, None, f"entry {info.filename!r} points outside the archive; refusing it")
            if info.is_dir() or path.suffix != ".csv":
                continue
            chunks = []
            with archive.open(info) as fh:
                while chunk := fh.read(1 << 20):
                    total += len(chunk)
                    if total > max_bytes:
                        raise ParseError(
                            source,
                            file,
                            None,
                            f"expands past {max_bytes} bytes (at entry {info.filename!r}); refusing a zip bomb",
                        )
                    chunks.append(chunk)
            if path.name in out:
                raise ParseError(source, file, None, f"two entries named {path.name!r}")
            out[path.name] = b"".join(chunks)
    return out
