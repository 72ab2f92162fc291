"""The LMArena (Chatbot Arena) text leaderboard as published daily by fboulnois/llm-leaderboard-csv.

Three header generations, told apart by name, never by position:
``rank,model,arena_elo,95_pct_ci,…`` (mid 2024), ``rank,model,arena_score,…``, and
``rank,rank_stylectrl,model,arena_score,…`` (2025, also ``lmarena_text.csv``). ``arena_elo`` and
``arena_score`` are the same Bradley-Terry rating (Elo-like, re-anchored at each snapshot): both land as
benchmark ``arena_score``, with the column it came from recorded. ``95_pct_ci`` is ``+P/-M`` around it.
``rank`` only says where a row sits: two rows equal but for their rank are one model listed twice
(``Yi-34B-Chat`` in the 2025 files), dropped and counted.
"""

from __future__ import annotations

import re

from .contract import read_table
from .leaderboard import Builder, Leaderboard

SCORE_COLUMNS = ("arena_score", "arena_elo")
ATTRIBUTES = ("organization", "license", "knowledge_cutoff", "url")
_CI = re.compile(r"\+([0-9]+(?:\.[0-9]+)?)/-([0-9]+(?:\.[0-9]+)?)")


def parse_arena(data: bytes, *, source: str, file: str) -> Leaderboard:
    """Parse one Arena snapshot into the long form (scale ``elo``, higher is better)."""
    table = read_table(
        data,
        source=source,
        file=file,
        required=("model", "95_pct_ci", "votes"),
        key=("model",),
        positional=("rank", "rank_stylectrl"),
    )
    present = [c for c in SCORE_COLUMNS if c in table.header]
    if len(present) != 1:
        raise table.error(1, f"expected exactly one score column of {list(SCORE_COLUMNS)}, found {present}")
    if not table.rows:
        raise table.error(None, "no model rows (header only)")
    score_column = present[0]
    col = {name: i for i, name in enumerate(table.header)}
    out = Builder()
    out.benchmark(
        "arena_score",
        score_column,
        "elo",
        True,
        "Arena rating (Bradley-Terry, Elo-like) from pairwise human votes; re-anchored at each snapshot",
    )
    if "rank_stylectrl" in col:
        out.benchmark(
            "arena_rank_stylectrl",
            "rank_stylectrl",
            "rank",
            False,
            "rank under the style-controlled rating (its score is not published in this file)",
        )
    for line, row in table.rows:
        model = row[col["model"]]
        score = table.number(row[col[score_column]], line, score_column)
        ci = _CI.fullmatch(row[col["95_pct_ci"]])
        if row[col["95_pct_ci"]] and not ci:
            raise table.error(line, f"column '95_pct_ci': {row[col['95_pct_ci']]!r} is not '+P/-M'")
        low = score - float(ci.group(2)) if ci and score is not None else None
        high = score + float(ci.group(1)) if ci and score is not None else None
        out.score(model, "arena_score", score, line, ci_low=low, ci_high=high)
        if "rank_stylectrl" in col:
            out.score(
                model, "arena_rank_stylectrl", table.number(row[col["rank_stylectrl"]], line, "rank_stylectrl"), line
            )
        votes = table.number(row[col["votes"]], line, "votes")
        out.model(
            model,
            line,
            votes=None if votes is None else int(votes),
            rank=table.number(row[col["rank"]], line, "rank") if "rank" in col else None,
            **{a: row[col[a]] or None for a in ATTRIBUTES if a in col},
        )
    return out.build(table.duplicate_lines)
