"""Parsers: bytes in, tidy polars frames out. No I/O, no dagster."""

from __future__ import annotations


class ParseError(ValueError):
    """A file could not be parsed; names the source, the file and the line."""

    def __init__(self, source: str, file: str, line: int | None, message: str):
        self.source, self.file, self.line, self.reason = source, file, line, message
        where = f"line {line}" if line is not None else "whole file"
        super().__init__(f"source {source!r}, file {file!r}, {where}: {message}")
