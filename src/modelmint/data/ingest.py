"""Read a user's file as a stream of rows: CSV, TSV, JSONL, Parquet and Excel.

Nothing here holds the whole file: rows are yielded one at a time, and ``bytes_read`` tells a
progress bar how far along the file is. Text files are UTF-8 (with or without BOM) or GBK /
GB18030, detected from the first 64 KiB (other encodings through charset-normalizer), and the
encoding used is reported. Every error names the problem and the fix.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelmint.errors import InvalidInput, PayloadTooLarge

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
}
DEFAULT_MAX_BYTES = 20 * 1024**3
csv.field_size_limit(64 * 1024 * 1024)


@dataclass(frozen=True)
class ColumnKind:
    """What the first rows of a column look like: enough to tell which option it can fill."""

    values: int
    """Non-empty values seen."""
    distinct: int
    numeric: bool
    """Every non-empty value is a number."""
    mean_length: float

    @property
    def text_like(self) -> bool:
        """Free text: not numbers, and mostly different values or long ones."""
        return not self.numeric and (self.distinct > self.values // 2 or self.mean_length >= 20)

    @property
    def low_cardinality(self) -> bool:
        """Classes: values that repeat (at most half as many distinct values as rows)."""
        return self.distinct <= max(2, self.values // 2)


# option -> (what a fitting column is called in messages, whether a column fits)
FITS: dict[str, tuple[str, Callable[[ColumnKind], bool]]] = {
    "text": ("text-like", lambda k: k.text_like),
    "tokens": ("text-like", lambda k: k.text_like),
    "label": ("low-cardinality", lambda k: k.low_cardinality),
    "target": ("numeric", lambda k: k.numeric),
}


def missing_column(
    opt: str, name: str, columns: list[str], kinds: dict[str, ColumnKind] | None = None
) -> InvalidInput:
    """The error for a column that is not in the file, with a suggestion: the closest name
    among the columns that could fill `opt` (text-like columns for --text, low-cardinality ones
    for --label, numeric ones for --target), so a label column is never offered as the text."""
    shown = ", ".join(columns[:30]) or "(none)"
    candidates, what = columns, ""
    if kinds is not None and opt in FITS:
        what, fits = FITS[opt]
        # a column with no values in the rows looked at could be anything
        candidates = [c for c in columns if c not in kinds or not kinds[c].values or fits(kinds[c])]
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.5)
    if match:
        hint = f" - did you mean --{opt} {match[0]}?"
    elif what and len(candidates) == 1:
        hint = f" - the only {what} column is {candidates[0]}: pass --{opt} {candidates[0]}"
    elif what and candidates:
        hint = f" - {what} columns: {', '.join(candidates[:10])}; pass --{opt} COLUMN"
    elif what:
        hint = f" - no column looks {what}; pass --{opt} COLUMN"
    else:
        hint = f" - pass --{opt} COLUMN"
    return InvalidInput(f"column '{name}' not found; columns are {shown}{hint}")


def detect_encoding(sample: bytes) -> str:
    """utf-8-sig, utf-8, gb18030 (covers GBK), or charset-normalizer's best guess."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for enc in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(enc)().decode(sample, final=False)
            return enc
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        raise InvalidInput(
            "cannot tell the file's text encoding (it is not UTF-8 or GBK/GB18030); pass "
            "--encoding NAME or re-save it as UTF-8"
        )
    return str(best.encoding)


class _CountingFile(io.FileIO):
    bytes_read = 0

    def readinto(self, b: Any) -> int | None:
        n = super().readinto(b)
        if n:
            self.bytes_read += n
        return n


class Table:
    """An opened input file: its columns, facts about the read, and a row iterator."""

    def __init__(
        self,
        path: Path,
        *,
        fmt: str | None = None,
        encoding: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if not path.exists():
            raise InvalidInput(f"file {path} does not exist; check the path")
        if path.is_dir():
            raise InvalidInput(
                f"{path} is a directory; pass a .csv, .tsv, .jsonl, .parquet or .xlsx file"
            )
        self.path = path
        self.size = path.stat().st_size
        if self.size > max_bytes:
            raise PayloadTooLarge(
                f"{path.name} is {self.size:,} bytes, over the limit of {max_bytes:,}; split it, or "
                "raise MODELMINT_MAX_FILE_BYTES"
            )
        if self.size == 0:
            raise InvalidInput(
                f"{path} is empty; give a file with a header and at least a few rows"
            )
        self.fmt = fmt or FORMATS.get(path.suffix.lower())
        if self.fmt not in {"csv", "tsv", "jsonl", "parquet", "xlsx"}:
            raise InvalidInput(
                f"cannot tell the format of {path.name}; use .csv, .tsv, .jsonl, .parquet or .xlsx, "
                "or pass --format csv|tsv|jsonl|parquet|xlsx"
            )
        self.encoding: str | None = None
        self._raw: _CountingFile | None = None
        self._parquet_bytes = 0
        self.columns = self._open(encoding)

    # -- opening: read just enough to know the columns --------------------------------------
    def _open(self, encoding: str | None) -> list[str]:
        if self.fmt in {"csv", "tsv", "jsonl"}:
            with self.path.open("rb") as f:
                sample = f.read(65536)
            if encoding:
                try:
                    codecs.lookup(encoding)
                except LookupError:
                    raise InvalidInput(
                        f"unknown encoding '{encoding}'; use e.g. utf-8, gbk, gb18030"
                    ) from None
            self.encoding = encoding or detect_encoding(sample)
            if self.fmt == "jsonl":
                first = next(self._jsonl(limit=1), None)
                if first is None:
                    raise InvalidInput(
                        f"{self.path} has no JSON lines; each line must be an object"
                    )
                return list(first[1].keys())
            rows = self._csv_rows_numbered()
            header = next(rows, (0, None))[1]
            rows.close()
            if not header or not any(h.strip() for h in header):
                raise InvalidInput(
                    f"{self.path} has no header row; the first line must name the columns"
                )
            return header
        if self.fmt == "parquet":
            pq = _import("pyarrow.parquet", "pyarrow")
            try:
                return list(pq.ParquetFile(self.path).schema_arrow.names)
            except Exception as exc:
                raise InvalidInput(
                    f"{self.path.name} is not a readable Parquet file ({exc}); re-export it"
                ) from None
        openpyxl = _import("openpyxl", "openpyxl")
        try:
            wb = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:
            raise InvalidInput(
                f"{self.path.name} is not a readable .xlsx workbook ({type(exc).__name__}); re-save it from Excel"
            ) from None
        ws = wb.worksheets[0]
        header = next(ws.iter_rows(max_row=1, values_only=True), None)
        wb.close()
        if not header:
            raise InvalidInput(
                f"the first sheet of {self.path.name} is empty; put a header row in row 1"
            )
        return ["" if h is None else str(h) for h in header]

    @property
    def facts(self) -> dict[str, Any]:
        return {
            "format": self.fmt,
            "encoding": self.encoding,
            "columns": self.columns,
            "bytes": self.size,
        }

    @property
    def bytes_read(self) -> int:
        if self._raw is not None:
            return self._raw.bytes_read
        return self._parquet_bytes

    def require(self, opt: str, name: str) -> None:
        if name not in self.columns:
            raise missing_column(opt, name, self.columns, self.column_kinds())

    def column_kinds(self, peek: int = 1000) -> dict[str, ColumnKind]:
        """How the first `peek` rows of each column look (for suggestions in errors)."""
        seen: dict[str, set[str]] = {c: set() for c in self.columns}
        count = dict.fromkeys(self.columns, 0)
        numeric = dict.fromkeys(self.columns, True)
        length = dict.fromkeys(self.columns, 0)
        try:
            for i, (_, rec) in enumerate(self.rows()):
                if i >= peek:
                    break
                for c in self.columns:
                    v = as_text(rec.get(c)).strip()
                    if not v:
                        continue
                    count[c] += 1
                    length[c] += len(v)
                    if len(seen[c]) <= peek:
                        seen[c].add(v)
                    if numeric[c]:
                        try:
                            float(v.replace(",", ""))
                        except ValueError:
                            numeric[c] = False
        except InvalidInput:
            pass  # a malformed row further down: suggest from the rows read so far
        return {
            c: ColumnKind(
                values=count[c],
                distinct=len(seen[c]),
                numeric=numeric[c] and count[c] > 0,
                mean_length=length[c] / count[c] if count[c] else 0.0,
            )
            for c in self.columns
        }

    # -- streaming ---------------------------------------------------------------------------
    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line or row number, record) for every data row."""
        if self.fmt in {"csv", "tsv"}:
            header = None
            for n, values in self._csv_rows_numbered():
                if header is None:
                    header = values
                    continue
                if not any(v.strip() for v in values):
                    continue  # blank line
                if len(values) > len(header):
                    raise InvalidInput(
                        f"{self.path.name} line {n} has {len(values)} fields but the header has "
                        f"{len(header)}; quote fields that contain the delimiter"
                    )
                yield n, dict(zip(header, values + [""] * (len(header) - len(values)), strict=True))
        elif self.fmt == "jsonl":
            yield from self._jsonl()
        elif self.fmt == "parquet":
            pq = _import("pyarrow.parquet", "pyarrow")
            pf = pq.ParquetFile(self.path)
            n = 0
            for batch in pf.iter_batches(batch_size=8192):
                for rec in batch.to_pylist():
                    n += 1
                    yield n, rec
                # read in record batches: progress is the share of rows done, in bytes
                self._parquet_bytes = int(self.size * n / max(pf.metadata.num_rows, 1))
        else:
            openpyxl = _import("openpyxl", "openpyxl")
            wb = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
            try:
                it = wb.worksheets[0].iter_rows(values_only=True)
                header = ["" if h is None else str(h) for h in next(it)]
                for n, values in enumerate(it, start=2):
                    if values is None or all(v is None for v in values):
                        continue
                    vals = list(values) + [None] * (len(header) - len(values))
                    yield n, dict(zip(header, vals[: len(header)], strict=True))
            finally:
                wb.close()

    def _text_stream(self) -> io.TextIOWrapper:
        self._raw = _CountingFile(self.path, "r")
        return io.TextIOWrapper(
            io.BufferedReader(self._raw, 1 << 20), encoding=self.encoding, newline=""
        )

    def _csv_rows_numbered(self) -> Iterator[tuple[int, list[str]]]:
        stream = self._text_stream()
        reader = csv.reader(stream, delimiter="\t" if self.fmt == "tsv" else ",")
        try:
            for values in reader:
                yield reader.line_num, values
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{self.path.name} near line {reader.line_num + 1} is not valid {self.encoding} "
                f"({exc.reason}); pass --encoding with the file's real encoding or fix those bytes"
            ) from None
        except csv.Error as exc:
            raise InvalidInput(
                f"{self.path.name} line {reader.line_num} cannot be parsed as {self.fmt.upper()} ({exc}); "
                "fix the quoting on that line"
            ) from None
        finally:
            stream.close()

    def _jsonl(self, limit: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
        stream = self._text_stream()
        n = 0
        seen = 0
        try:
            for n, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInput(
                        f"{self.path.name} line {n} is not valid JSON ({exc.msg}); fix or remove that line"
                    ) from None
                if not isinstance(rec, dict):
                    raise InvalidInput(
                        f"{self.path.name} line {n} is not a JSON object; each line must be like "
                        '{"text": "...", "label": "..."}'
                    )
                yield n, rec
                seen += 1
                if limit is not None and seen >= limit:
                    return
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{self.path.name} near line {n + 1} is not valid {self.encoding} ({exc.reason}); "
                "pass --encoding with the file's real encoding or fix those bytes"
            ) from None
        finally:
            stream.close()


def _import(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InvalidInput(
            f"reading this format needs the {package} package; `pip install {package}`"
        ) from None


def read_rows(
    path: Path,
    *,
    text: str = "text",
    label: str = "label",
    fmt: str | None = None,
    encoding: str | None = None,
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """All rows as {"text", "label"} strings (for small files and tests; `data add` streams)."""
    table = Table(path, fmt=fmt, encoding=encoding)
    table.require("text", text)
    table.require("label", label)
    rows = [
        {"text": as_text(r.get(text)), "label": as_text(r.get(label)).strip()}
        for _, r in table.rows()
    ]
    if not rows:
        raise InvalidInput(f"{path} has a header but no rows; add labelled rows below the header")
    return rows, table.facts


def as_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
