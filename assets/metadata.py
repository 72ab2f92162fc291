"""Small helpers for the metadata assets attach to their materializations."""

from __future__ import annotations

import dagster as dg
import polars as pl


def markdown_table(frame: pl.DataFrame, digits: int = 4) -> dg.MetadataValue:
    """Render a small frame as a Markdown table for the Dagster UI."""

    def cell(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.{digits}g}"
        return str(v)

    head = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * frame.width + "\n"
    body = "\n".join("| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows())
    return dg.MetadataValue.md(head + body)
