"""Epoch AI's Notable AI Models table (``notable_ai_models_*.csv``): model attributes, not scores.

One row per model (``Model``: a family name such as ``Llama 2-7B``, not a repository id): training
compute (FLOP), parameters, dataset size, publication date, the confidence of the compute estimate,
domain and organisation. It lands as model attributes with an empty score list; the model identity
layer matches its names to the leaderboards' and says which did not match.
"""

from __future__ import annotations

import datetime as dt

from .contract import read_table
from .leaderboard import Builder, Leaderboard

NUMBERS = {
    "Parameters": "parameters",
    "Training compute (FLOP)": "training_flop",
    "Training dataset size (datapoints)": "dataset_size",
    "Finetune compute (FLOP)": "finetune_flop",
}
TEXT = {
    "Domain": "domain",
    "Organization": "organization",
    "Confidence": "compute_confidence",
    "Model accessibility": "accessibility",
    "Base model": "base_model",
}
CONFIDENCE = ("Confident", "Likely", "Speculative", "Unknown", "")


def parse_notable_models(data: bytes, *, source: str, file: str) -> Leaderboard:
    """Parse the Notable AI Models table into model attributes (no scores)."""
    table = read_table(data, source=source, file=file, required=("Model", "Publication date", *NUMBERS), key=("Model",))
    if not table.rows:
        raise table.error(None, "no model rows (header only)")
    col = {name: i for i, name in enumerate(table.header)}
    out = Builder()
    for line, row in table.rows:
        published = row[col["Publication date"]]
        try:
            dt.date.fromisoformat(published)
        except ValueError:
            raise table.error(line, f"column 'Publication date': {published!r} is not a YYYY-MM-DD date") from None
        if "Confidence" in col and row[col["Confidence"]] not in CONFIDENCE:
            raise table.error(
                line, f"column 'Confidence': {row[col['Confidence']]!r} is not one of {list(CONFIDENCE[:-1])}"
            )
        out.model(
            row[col["Model"]],
            line,
            publication_date=published,
            **{name: table.number(row[col[c]], line, c) for c, name in NUMBERS.items()},
            **{name: row[col[c]] or None for c, name in TEXT.items() if c in col},
        )
    return out.build(table.duplicate_lines)
