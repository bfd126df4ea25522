"""Shared CLI plumbing: the workspace from the global options, JSON output, progress bars."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from modelmint.settings import Settings, load_settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]

# At least 100 columns when output is not a terminal (CI logs, pipes), so tables stay readable.
console = Console(width=None if Console().is_terminal else max(100, Console().width))
err_console = Console(stderr=True)


@dataclass
class State:
    home: Path | None = None
    debug: bool = False
    _ws: Any = field(default=None, repr=False)

    def settings(self) -> Settings:
        return load_settings(home=self.home)

    def workspace(self):  # -> Workspace (imported lazily: keeps `modelmint --help` fast)
        if self._ws is None:
            from modelmint.pipeline import Workspace

            self._ws = Workspace.open(self.settings())
        return self._ws


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State)
    return obj


def _default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, set | tuple):
        return list(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout, never wrapped or coloured."""
    typer.echo(json.dumps(data, default=_default, ensure_ascii=False, indent=2))


ANNOUNCE_AT_S = 30.0
"""A stage expected to take longer than this is announced with its estimate."""


def about(seconds: float) -> str:
    """'about 40 s', 'about 5 min', 'about 2 h': an estimate, rounded as one."""
    if seconds < 55:
        return f"about {max(5, round(seconds / 5) * 5)} s"
    if seconds < 90 * 60:
        return f"about {max(1, round(seconds / 60))} min"
    return f"about {seconds / 3600:.1f} h"


@contextmanager
def progress_ui(
    enabled: bool = True, *, clock: Callable[[], float] = time.monotonic
) -> Iterator[Any]:
    """A `progress(stage, done, total)` callback drawing one Rich bar per stage, with ETA.

    Long stages are announced: once the first chunk of a stage has taken a second or more, its
    whole duration is extrapolated from that chunk's speed and, when it comes to more than
    ANNOUNCE_AT_S, printed as one line ("embedding: about 5 min for 4,000 (measured on the
    first 32)") above the bars, so a wait of minutes is never a surprise."""
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("  [bold]{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, Any] = {}
        first: dict[str, tuple[float, int]] = {}  # stage -> (when it was first seen, done then)
        measured: set[str] = set()

        def update(stage: str, done: int, total: int) -> None:
            if total <= 0:  # nothing to do (e.g. every embedding was cached): show it as done
                done = total = 1
            now = clock()
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
                first[stage] = (now, done)
            elif stage not in measured and 0 < done < total:
                t0, d0 = first[stage]
                if done > d0 and now - t0 >= 1.0:  # one chunk measured: extrapolate
                    measured.add(stage)
                    whole = (now - t0) / (done - d0) * (total - d0)
                    if whole >= ANNOUNCE_AT_S:
                        bar.console.print(
                            f"  {stage}: {about(whole)} for {total:,} (measured on the first "
                            f"{done - d0:,}; the bar keeps the estimate current)",
                            highlight=False,
                        )
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def setup_logging(level: str, *, json_lines: bool = False) -> None:
    root = logging.getLogger()
    root.handlers.clear()
    if json_lines:
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(JsonLines())
    else:
        from rich.logging import RichHandler

        handler = RichHandler(console=err_console, show_path=False, rich_tracebacks=False)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "alembic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class JsonLines(logging.Formatter):
    """One JSON object per line for the server: time, level, logger, message and the request's
    id, tenant and model when the log call gave them. Never request bodies or keys."""

    FIELDS = ("request_id", "tenant", "model", "units", "latency_ms")

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for f in self.FIELDS:
            if hasattr(record, f):
                out[f] = getattr(record, f)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def table(title: str | None, columns: list[str], rows: list[list[Any]], numbers: int = 0):
    """A Rich table. The first column never wraps, unless the last `numbers` columns hold
    figures: then those are right-aligned and never cut, and the first column wraps instead."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold")
    first = len(columns) - numbers
    for i, c in enumerate(columns):
        if i >= first:
            t.add_column(c, justify="right", no_wrap=True)
        else:
            t.add_column(c, no_wrap=i == 0 and not numbers, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    return t
