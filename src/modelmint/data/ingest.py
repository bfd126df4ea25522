"""Read a user's CSV/TSV/JSONL file into (text, label) rows, with errors that name the fix."""

from __future__ import annotations

import csv
import difflib
import json
from collections.abc import Iterator
from pathlib import Path

from modelmint.errors import InvalidInput

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "tsv"}


def _closest(name: str, columns: list[str]) -> str:
    match = difflib.get_close_matches(name, columns, n=1, cutoff=0.5)
    hint = f" - did you mean --{{opt}} {match[0]}?" if match else ""
    return hint


def _missing_column(opt: str, name: str, columns: list[str]) -> InvalidInput:
    hint = _closest(name, columns).replace("{opt}", opt)
    return InvalidInput(
        f"column '{name}' not found; columns are {', '.join(columns) or '(none)'}{hint or f' - pass --{opt} COLUMN'}"
    )


def _decode(path: Path, encoding: str | None) -> tuple[str, str]:
    raw = path.read_bytes()
    tried = [encoding] if encoding else ["utf-8-sig", "gb18030"]
    for enc in tried:
        try:
            return raw.decode(enc), enc
        except (UnicodeDecodeError, LookupError):
            continue
    raise InvalidInput(
        f"{path} is not valid {' or '.join(tried)} text; pass --encoding with the file's encoding "
        "(e.g. --encoding gbk) or re-save it as UTF-8"
    )


def read_rows(
    path: Path,
    *,
    text: str = "text",
    label: str = "label",
    fmt: str | None = None,
    encoding: str | None = None,
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Rows as {"text", "label"} strings, and facts about the read (format, encoding, columns)."""
    if not path.exists():
        raise InvalidInput(f"file {path} does not exist; check the path")
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; pass a .csv, .tsv or .jsonl file")
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt not in {"csv", "tsv", "jsonl"}:
        raise InvalidInput(
            f"cannot tell the format of {path.name}; use a .csv, .tsv or .jsonl file or pass "
            "--format csv|tsv|jsonl"
        )
    content, used = _decode(path, encoding)
    if not content.strip():
        raise InvalidInput(f"{path} is empty; give a file with a header and at least a few rows")
    records = list(_records(content, fmt, path))
    columns = records[0][1] if records else _header(content, fmt)
    if not records:
        raise InvalidInput(f"{path} has a header but no rows; add labelled rows below the header")
    if text not in columns:
        raise _missing_column("text", text, columns)
    if label not in columns:
        raise _missing_column("label", label, columns)
    rows: list[dict[str, str]] = []
    for _line, _cols, rec in records:
        t, lab = rec.get(text), rec.get(label)
        rows.append(
            {
                "text": "" if t is None else str(t),
                "label": "" if lab is None else str(lab).strip(),
            }
        )
    return rows, {"format": fmt, "encoding": used, "columns": ",".join(columns)}


def _header(content: str, fmt: str) -> list[str]:
    if fmt == "jsonl":
        return []
    first = content.splitlines()[0]
    return next(csv.reader([first], delimiter="\t" if fmt == "tsv" else ","))


def _records(content: str, fmt: str, path: Path) -> Iterator[tuple[int, list[str], dict]]:
    if fmt == "jsonl":
        for n, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(
                    f"{path.name} line {n} is not valid JSON ({exc.msg}); fix or remove that line"
                ) from None
            if not isinstance(rec, dict):
                raise InvalidInput(
                    f"{path.name} line {n} is not a JSON object; each line must be like "
                    '{"text": "...", "label": "..."}'
                )
            yield n, list(rec.keys()), rec
        return
    reader = csv.DictReader(content.splitlines(), delimiter="\t" if fmt == "tsv" else ",")
    cols = [c for c in (reader.fieldnames or [])]
    try:
        for rec in reader:
            if None in rec:
                raise InvalidInput(
                    f"{path.name} line {reader.line_num} has more fields than the header; "
                    "quote fields that contain the delimiter"
                )
            yield reader.line_num, cols, rec
    except csv.Error as exc:
        raise InvalidInput(
            f"{path.name} line {reader.line_num} cannot be parsed as {fmt.upper()} ({exc}); fix "
            "the quoting on that line"
        ) from None
