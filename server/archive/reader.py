"""Reading one export CSV as a stream of typed rows: encoding, delimiter, header mapping and per-row validation.

Nothing is read into memory whole: bytes go through a counting reader, a text decoder and the csv module.
"""

from __future__ import annotations

import codecs
import csv
import io
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from server.archive.formats import Column, header_key
from server.archive.values import Times, parse_csat, parse_float, parse_int

# A message may carry a long e-mail thread; anything larger is a broken quote swallowing the file, not content.
MAX_FIELD_CHARS = 16 * 1024 * 1024
csv.field_size_limit(MAX_FIELD_CHARS)

SAMPLE_BYTES = 256 * 1024


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    """cp1252 leaves five bytes undefined; Excel-touched files still carry them: read them as Latin-1 does."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    raw = error.object[error.start : error.end]
    return "".join(chr(byte) for byte in raw), error.end


codecs.register_error("sparkcentral-latin1", _latin1_fallback)


class CountingReader(io.RawIOBase):
    """A raw binary stream over any file-like with read(n), counting the bytes that went through."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        """Always readable."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the inner stream."""
        data = self.inner.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        return size


def detect_encoding(sample: bytes) -> str:
    """'utf-8-sig' with a BOM, 'utf-16' with its BOM, 'utf-8' if the sample decodes, else Excel's 'cp1252'."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # Not final: the sample may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def detect_delimiter(first_line: str) -> str:
    """',' as documented; ';' or a tab when Excel in another locale wrote the file (most frequent wins)."""
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


_KIND_NAMES = {
    "time": "Year-Month-Day HH:MM:SS.MS time",
    "int": "whole number",
    "float": "number",
    "csat": "CSAT score",
}


class RowError(ValueError):
    """A row that cannot be stored; the reason names the column, never the customer's text."""


@dataclass(frozen=True, slots=True)
class Plan:
    """How to turn one CSV row into stored values: for each column, its index in the row (or None) and parser."""

    columns: tuple[Column, ...]
    indexes: tuple[int | None, ...]
    width: int
    extras: tuple[tuple[int, str], ...]

    @property
    def missing(self) -> list[Column]:
        """Required columns the header does not have."""
        return [c for c, i in zip(self.columns, self.indexes, strict=True) if i is None and c.required]


def make_plan(header: list[str], columns: tuple[Column, ...]) -> Plan:
    """Map columns to header positions by name (first match of any of a column's names)."""
    keys = [header_key(h) for h in header]
    position: dict[str, int] = {}
    for index, key in enumerate(keys):
        position.setdefault(key, index)
    indexes = tuple(next((position[h] for h in c.headers if h in position), None) for c in columns)
    used = {i for i in indexes if i is not None}
    extras = tuple((i, header[i].strip().lstrip("\ufeff")) for i in range(len(header)) if i not in used and keys[i])
    return Plan(columns, indexes, len(header), extras)


def converter(plan: Plan, times: Times) -> Callable[[list[str]], tuple[Any, ...]]:
    """A function from a CSV row to the tuple of stored values, raising RowError for a row that cannot be stored.

    Written for speed (it runs a million times per million messages): every cell is picked in one itemgetter call,
    text cells become `stripped or None` in one comprehension, and only the few typed cells get a parser call.
    """
    parsers: dict[str, Callable[[str], Any]] = {
        "time": times.parse,
        "clock": times.parse,
        "int": parse_int,
        "float": parse_float,
        "csat": parse_csat,
    }
    # A missing column reads the empty cell appended to every row (index -1).
    pick = operator.itemgetter(*[-1 if i is None else i for i in plan.indexes])
    typed = [(n, parsers[c.kind], c) for n, c in enumerate(plan.columns) if c.kind != "text"]
    required = [(n, c) for n, c in enumerate(plan.columns) if c.required]
    width = plan.width
    single = len(plan.columns) == 1

    def convert(row: list[str]) -> tuple[Any, ...]:
        if len(row) != width and not (len(row) > width and not any(row[width:])):
            raise RowError(f"has {len(row)} fields where the header has {width}")
        row.append("")
        picked = pick(row)
        values = [cell.strip() or None for cell in ((picked,) if single else picked)]
        for n, column in required:
            if values[n] is None:
                raise RowError(f"'{column.label}' is empty")
        for n, parse, column in typed:
            raw = values[n]
            if raw is not None:
                try:
                    values[n] = parse(raw)
                except ValueError:
                    if column.kind != "clock":
                        raise RowError(
                            f"'{column.label}' is not a valid {_KIND_NAMES[column.kind]} ({raw[:24]!r})"
                        ) from None
                    values[n] = None
        return tuple(values)

    return convert


@dataclass
class CsvStream:
    """An open export file read as rows, with the encoding and delimiter it was found to use."""

    counter: CountingReader
    text: io.TextIOWrapper
    reader: Iterator[list[str]]
    encoding: str
    delimiter: str

    @property
    def line(self) -> int:
        """The physical line the reader has reached (1-based)."""
        return int(getattr(self.reader, "line_num", 0))

    def close(self) -> None:
        """Close the file."""
        self.text.close()


def open_csv(raw: IO[bytes], encoding: str | None = None) -> CsvStream:
    """Open a binary stream as CSV rows, detecting the encoding (unless given) and the delimiter."""
    counter = CountingReader(raw)
    buffered = io.BufferedReader(counter, buffer_size=SAMPLE_BYTES)
    sample = buffered.peek(SAMPLE_BYTES)[:SAMPLE_BYTES]
    chosen = encoding or detect_encoding(sample)
    errors = "sparkcentral-latin1" if chosen == "cp1252" else "strict"
    text = io.TextIOWrapper(buffered, encoding=chosen, errors=errors, newline="")
    first = sample.decode(chosen if chosen != "utf-16" else "utf-16", errors="replace").split("\n", 1)[0]
    delimiter = detect_delimiter(first)
    return CsvStream(counter, text, csv.reader(text, delimiter=delimiter), chosen, delimiter)
