"""The contract every delimited-text parser follows, whatever the source.

- columns are found by name, never by position; header names are stripped of surrounding spaces, and an
  empty or repeated name is refused;
- UTF-8 with or without a BOM, LF or CRLF line ends; a file that does not end with a line end, or a row
  whose field count differs from the header's, is refused as truncated or malformed;
- a row that repeats an earlier row exactly is dropped and counted; two rows with the same key and
  different values are refused, naming both lines (a format may name positional columns, such as a rank,
  that do not count in that comparison);
- bytes that are not a text table (an HTML error page, a gzip body, binary data) are named as such;
- numbers are parsed strictly: ASCII digits, an optional sign, point and exponent; an empty cell is a
  missing value; ``nan``, ``inf``, ``1_000`` or non-ASCII digits are refused;
- every error names the source, the file and the line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import ParseError

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass
class Table:
    """A parsed delimited file: stripped header, rows with their 1-based line, what was dropped."""

    source: str
    file: str
    header: list[str]
    rows: list[tuple[int, list[str]]]
    duplicate_lines: list[int] = field(default_factory=list)

    def index(self, name: str) -> int:
        return self.header.index(name)

    def error(self, line: int | None, message: str) -> ParseError:
        return ParseError(self.source, self.file, line, message)

    def number(self, cell: str, line: int, column: str) -> float | None:
        """A strictly parsed number; ``None`` for an empty cell."""
        text = cell.strip()
        if text == "":
            return None
        if not _NUMBER.fullmatch(text):
            lowered = text.lower().lstrip("+-")
            if lowered in ("nan", "inf", "infinity"):
                raise self.error(line, f"column {column!r}: {cell!r} is not a finite number")
            raise self.error(line, f"column {column!r}: {cell!r} is not a number")
        return float(text)


def text_line(data: bytes, offset: int) -> int:
    """1-based line number of a byte offset."""
    return data.count(b"\n", 0, offset) + 1


def sniff(data: bytes, source: str, file: str) -> None:
    """Refuse, by name, bytes that are not a text file at all."""
    head = data[:512].lstrip().lower()
    if data[:2] == b"\x1f\x8b":
        raise ParseError(
            source, file, None, "gzip-compressed bytes, not text (a Content-Encoding the fetch did not undo?)"
        )
    if data[:4] == b"PK\x03\x04":
        raise ParseError(source, file, None, "a zip archive, not text")
    if head.startswith((b"<!doctype html", b"<html")):
        raise ParseError(source, file, 1, "an HTML page, not data (an error or login page served in its place?)")
    if b"\x00" in data[:65536]:
        raise ParseError(source, file, text_line(data, data.index(b"\x00")), "binary data (a NUL byte), not text")


def read_table(
    data: bytes,
    *,
    source: str,
    file: str,
    required: Sequence[str],
    key: Sequence[str],
    positional: Sequence[str] = (),
    may_be_empty: Sequence[str] = (),
    final_newline: bool = True,
) -> Table:
    """Parse a CSV file under the contract.

    Parameters
    ----------
    data : bytes
        The file as fetched.
    source, file : str
        Named in every error.
    required : sequence of str
        Columns that must be present (anywhere in the header).
    key : sequence of str
        Columns that identify a row: two rows with equal keys must be identical (then one is dropped
        and its line recorded in ``duplicate_lines``) or the file is refused.
    positional : sequence of str
        Columns that only say where a row sits (a rank): left out of that comparison.
    may_be_empty : sequence of str
        Key columns that may be empty (an unknown commit); every other key column must have a value.
    final_newline : bool
        Whether the format ends every file with a line end (then a file without one is truncated).
    """
    sniff(data, source, file)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(source, file, text_line(data, exc.start), f"not UTF-8 ({exc.reason})") from exc
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        raw_header = next(reader)
    except StopIteration:
        raise ParseError(source, file, None, "file is empty") from None
    except csv.Error as exc:
        raise ParseError(source, file, 1, f"malformed CSV: {exc}") from exc
    header = [name.strip() for name in raw_header]
    empty = [i + 1 for i, name in enumerate(header) if not name]
    if empty:
        raise ParseError(source, file, 1, f"column(s) {empty} have an empty name (a trailing delimiter?)")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ParseError(source, file, 1, f"duplicate column(s) {repeated}")
    missing = [name for name in required if name not in header]
    if missing:
        raise ParseError(source, file, 1, f"missing column(s) {missing}; found {header}")
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if row:
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise ParseError(source, file, reader.line_num, f"malformed CSV: {exc}") from exc
    if final_newline and rows and not text.endswith(("\n", "\r")):
        raise ParseError(source, file, rows[-1][0], "file does not end with a line end: truncated?")
    for line, row in rows:
        if len(row) != len(header):
            raise ParseError(
                source, file, line, f"{len(row)} fields where the header has {len(header)}: truncated or malformed row"
            )
    table = Table(source, file, header, [])
    key_index = [table.index(name) for name in key]
    compared = [i for i, name in enumerate(header) if name not in positional]
    seen: dict[tuple[str, ...], tuple[int, list[str]]] = {}
    for line, row in rows:
        cells = [cell.strip() for cell in row]
        row_key = tuple(cells[i] for i in key_index)
        if any(not part and name not in may_be_empty for name, part in zip(key, row_key)):
            raise ParseError(source, file, line, f"empty key {dict(zip(key, row_key))}")
        earlier = seen.get(row_key)
        if earlier is None:
            seen[row_key] = (line, cells)
            table.rows.append((line, cells))
        elif all(earlier[1][i] == cells[i] for i in compared):
            table.duplicate_lines.append(line)
        else:
            differing = [header[i] for i in compared if earlier[1][i] != cells[i]]
            raise ParseError(
                source,
                file,
                line,
                f"{dict(zip(key, row_key))} already on line {earlier[0]} with other values (columns {differing[:5]})",
            )
    return table
