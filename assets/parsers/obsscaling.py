"""Observational Scaling Laws (Ruan et al. 2024), ``ryoungj/ObsScaling`` ``eval_results/*.csv``.

One row per model (column ``Model``), the attribute columns ``Model Family``, ``Model Size (B)``,
``Pretraining Data Size (T)`` and ``FLOPs (1E21)`` (training compute in units of 10^21 FLOP, landed in
FLOP), and one column per benchmark. The scale of each file's columns is declared here, per file; a file
or column this table does not know is refused rather than guessed. ``base_llm_post_training_eval.csv``
is not declared: its columns mix scores with signed differences. Two files of the repository end without
a final newline (``base_llm_emergent_capability_eval.csv``, ``base_llm_post_training_eval.csv``), which
the format allows: truncation inside their last cell cannot be seen in the text, and is caught by the
registry's sha256 pin.
"""

from __future__ import annotations

from .contract import read_table
from .leaderboard import Builder, Leaderboard

ATTRIBUTES = {
    "Model Family": "family",
    "Model Size (B)": "params_billions",
    "Pretraining Data Size (T)": "tokens_trillions",
}
FLOPS_COLUMN = "FLOPs (1E21)"
_BASE = {"*": "fraction"}
# file -> column -> scale ("*": every other benchmark column); descriptions say what is unusual
SCALES: dict[str, dict[str, str]] = {
    "base_llm_benchmark_eval.csv": _BASE,
    "base_llm_benchmark_eval_sub_10b.csv": _BASE,
    "base_llm_leaderboard_v2_eval.csv": _BASE,
    "base_llm_emergent_capability_eval.csv": {"*": "fraction", "ipa_transliterate_2_bleu": "bleu"},
    "instruct_llm_benchmark_eval.csv": _BASE,  # Arena-Elo and MTBench as ObsScaling rescaled them to 0-1
    "instruct_llm_agent_eval.csv": {"*": "percent", "ABench-OA": "score"},
}
RESCALED = {
    "Arena-Elo": "Arena Elo rescaled to 0-1 by ObsScaling",
    "MTBench": "MT-Bench (1-10) rescaled to 0-1 by ObsScaling",
}


def parse_obsscaling(data: bytes, *, source: str, file: str) -> Leaderboard:
    """Parse one ObsScaling evaluation file whose scales are declared in :data:`SCALES`."""
    table = read_table(data, source=source, file=file, required=("Model",), key=("Model",), final_newline=False)
    scales = SCALES.get(file)
    if scales is None:
        raise table.error(None, f"no scales are declared for this file (known: {sorted(SCALES)}); refusing to guess")
    if not table.rows:
        raise table.error(None, "no model rows (header only)")
    col = {name: i for i, name in enumerate(table.header)}
    benchmarks = [c for c in table.header if c != "Model" and c not in ATTRIBUTES and c != FLOPS_COLUMN]
    out = Builder()
    for b in benchmarks:
        out.benchmark(b, b, scales.get(b, scales["*"]), True, RESCALED.get(b, f"ObsScaling {b}"))
    for line, row in table.rows:
        model = row[col["Model"]]
        for b in benchmarks:
            out.score(model, b, table.number(row[col[b]], line, b), line)
        attributes = {
            name: (row[col[c]] or None) if name == "family" else table.number(row[col[c]], line, c)
            for c, name in ATTRIBUTES.items()
            if c in col
        }
        if FLOPS_COLUMN in col:
            flops = table.number(row[col[FLOPS_COLUMN]], line, FLOPS_COLUMN)
            attributes["training_flop"] = None if flops is None else flops * 1e21
        out.model(model, line, **attributes)
    return out.build(table.duplicate_lines)
