"""The audit trail's chain, its actor and its checks: plain functions, no I/O (the entries live in
the store's `audit_log` table; see docs/security.md).

Every entry is chained to the one before it by an HMAC-SHA256 under a key derived from the server
key (MODELMINT_SECRET_KEY or HOME/secret.key), which the database does not hold:

    mac(n) = HMAC(key, [seq, at, actor, action, target, before, after, request_id, key_id, mac(n-1)])

so an entry that is edited, deleted, reordered or inserted breaks the chain at that entry, and
someone with write access to the database but not the key cannot recompute it. What a chain
alone cannot see is its newest entries cut off: a checkpoint (the count and the head's MAC,
signed under the same key) kept elsewhere closes that gap.

Who acts is carried by a context variable: the CLI sets `cli:<os user>`, the admin API the
credential that authenticated the request (`token:admin`, a user) and the request id, and every
entry recorded while it is set names them."""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelmint.errors import InvalidInput

GENESIS = "0" * 64  # the "previous MAC" of the first entry
KEY_INFO = b"modelmint audit log v1"
CHECKPOINT_KIND = "modelmint-audit-checkpoint"
SECRET_WORDS = ("hash", "secret", "password", "token", "totp")
REDACTED = "[redacted]"


@dataclass(frozen=True)
class Actor:
    """Who does what is recorded: `kind:name` (cli:alice, token:admin, user:bob) and the request."""

    name: str
    request_id: str | None = None


_actor: ContextVar[Actor | None] = ContextVar("modelmint_audit_actor", default=None)


def os_actor() -> Actor:
    """`cli:` and MODELMINT_ACTOR (a name a script gives itself), else the OS user."""
    try:
        user = os.environ.get("MODELMINT_ACTOR") or getpass.getuser()
    except Exception:  # no user name in this environment (a container without passwd entry)
        user = "unknown"
    return Actor(f"cli:{user}")


def current_actor() -> Actor:
    """The actor set by the entry point, else the OS user of this process (as the CLI)."""
    return _actor.get() or os_actor()


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def set_actor(actor: Actor) -> None:
    """Set the actor for the rest of this context (an entry point that runs one command)."""
    _actor.set(actor)


def derive_key(server_secret: str) -> bytes:
    """The audit log's MAC key, derived from the server key (never stored in the database)."""
    return hmac.new(server_secret.encode("utf-8"), KEY_INFO, hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    """16 hex digits naming the key (not secret): entries and checkpoints record it, so a host
    with another key is found at start-up and a verification says which key signed what."""
    return hmac.new(key, b"modelmint audit key id", hashlib.sha256).hexdigest()[:16]


def redact(value: Any) -> Any:
    """A before/after snapshot with secrets (hashes, secrets, passwords, tokens) blanked."""
    if isinstance(value, Mapping):
        return {
            str(k): (
                REDACTED
                if any(w in str(k).lower() for w in SECRET_WORDS) and v is not None
                else redact(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def snapshot(value: Any) -> str | None:
    """The stored text of a before/after value: canonical JSON (sorted keys), secrets redacted;
    what is stored is exactly what the MAC covers."""
    if value is None:
        return None
    return json.dumps(redact(value), sort_keys=True, ensure_ascii=False, default=str)


def check_time(text: str | None, field: str) -> str | None:
    """A day (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM[:SS], UTC unless it says otherwise) a user
    filters by, as entries store times; None stays None."""
    if text is None or text == "":
        return None
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{field} '{text[:40]}' is not a day or time; use YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return timestamp(at)


def timestamp(at: datetime) -> str:
    """Entries' time as fixed-width ISO 8601 in UTC (sorts as text, reads back identically)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


FIELDS = ("seq", "at", "actor", "action", "target", "before", "after", "request_id", "key_id")


UNIT, NONE = "\x1f", "\x1e"  # between values; a value that is None


def message(values: Iterable[Any]) -> bytes:
    """The bytes a MAC covers: the values' text joined by U+001F, None as U+001E. No value
    can hold either character: `before`/`after` are JSON (which escapes control characters),
    the times, key ids and MACs have fixed forms, and `clean` replaces them in the free text
    (actor, action, target, request id) before an entry is written."""
    return UNIT.join([NONE if v is None else str(v) for v in values]).encode(
        "utf-8", "surrogatepass"
    )


def clean(text: str, limit: int) -> str:
    """Free text as an entry stores it: cut to `limit`, the two separator characters of
    `message` replaced by U+FFFD."""
    text = text[:limit]
    if UNIT in text or NONE in text:
        text = text.replace(UNIT, "\ufffd").replace(NONE, "\ufffd")
    return text


def mac(key: bytes, entry: Mapping[str, Any], prev: str) -> str:
    return _mac(hmac.new(key, digestmod=hashlib.sha256), [*(entry[f] for f in FIELDS), prev])


def _mac(base: Any, values: Iterable[Any]) -> str:
    """HMAC-SHA256 of `values` from a keyed object made once (copying it skips the key setup
    that every fresh HMAC repeats)."""
    h = base.copy()
    h.update(message(values))
    return str(h.hexdigest())


@dataclass
class Problem:
    seq: int
    kind: str  # edited | missing | out_of_order | other_key | cut_off | checkpoint
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "message": self.message}


@dataclass
class Verification:
    entries: int
    head: str
    problem: Problem | None
    checkpoint: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": self.head,
            "first_bad": self.problem.as_json() if self.problem else None,
            "checkpoint": self.checkpoint,
        }


ROW = (*FIELDS, "prev", "mac")  # the column order `verify_segment` reads rows in
_SEQ, _KEY_ID, _PREV, _MAC = 0, ROW.index("key_id"), ROW.index("prev"), ROW.index("mac")


@dataclass
class Segment:
    """What checking a run of consecutive entries found: their number, the first entry's
    stored `prev` (checked by whoever holds the entry before), the last MAC, the MAC of entry
    `mark` if it is in the run, and the first problem inside the run."""

    first: int
    count: int
    first_prev: str | None
    last_mac: str | None
    marked: str | None
    problem: Problem | None


def verify_segment(
    rows: Iterable[tuple[Any, ...]], key: bytes, first: int = 1, mark: int = 0
) -> Segment:
    """Check entries `first`, `first`+1, ... (tuples in `ROW` order, by `seq`): no gap, each
    follows the one before it, each signed by this key, each MAC right. Stops at the first
    problem. About 4 us an entry."""
    mine = key_id(key)
    base = hmac.new(key, digestmod=hashlib.sha256)
    n_fields = len(FIELDS)
    expected, count = first, 0
    prev: str | None = None
    first_prev: str | None = None
    marked: str | None = None

    def seg(problem: Problem | None) -> Segment:
        return Segment(first, count, first_prev, prev, marked, problem)

    for row in rows:
        seq = int(row[_SEQ])
        if seq != expected:
            if seq > expected:
                gone = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
                return seg(Problem(expected, "missing", f"entries {gone} are missing (deleted)"))
            return seg(
                Problem(
                    seq,
                    "out_of_order",
                    f"entry {seq} appears again after entry {expected - 1} (reordered or "
                    "duplicated)",
                )
            )
        if prev is None:
            first_prev = str(row[_PREV])
        elif row[_PREV] != prev:
            return seg(
                Problem(
                    seq,
                    "out_of_order",
                    f"entry {seq} does not follow entry {seq - 1} (reordered, inserted, or the "
                    "one before it was replaced)",
                )
            )
        if row[_KEY_ID] != mine:
            return seg(
                Problem(
                    seq,
                    "other_key",
                    f"entry {seq} was signed by another key (id {row[_KEY_ID]}, this host's is "
                    f"{mine}); set MODELMINT_SECRET_KEY to the key of the host that wrote it",
                )
            )
        if not hmac.compare_digest(_mac(base, row[: n_fields + 1]), str(row[_MAC])):
            return seg(
                Problem(
                    seq,
                    "edited",
                    f"entry {seq} does not match its MAC: it was changed after it was written, "
                    "or put there by someone without the key",
                )
            )
        prev, count, expected = str(row[_MAC]), count + 1, expected + 1
        if seq == mark:
            marked = prev
    return seg(None)


def combine(segments: list[Segment], checkpoint: Mapping[str, Any] | None = None) -> Verification:
    """The verdict on the whole log from its segments in order (each starting where the one
    before it ended): the first problem in log order wins; the joins between segments are
    checked as any other link; with a checkpoint, a cut-off tail or a rewritten entry."""
    cp = dict(checkpoint) if checkpoint else None
    count, head, marked = 0, GENESIS, None
    for s in segments:
        if s.first_prev is not None and s.first_prev != head:
            what = "the first entry" if s.first == 1 else f"entry {s.first - 1}"
            p = Problem(
                s.first,
                "out_of_order",
                f"entry {s.first} does not follow {what} (reordered, inserted, or the one before "
                "it was replaced)",
            )
            return Verification(count, head, p, cp)
        count += s.count
        head = s.last_mac or head
        marked = s.marked or marked
        if s.problem is not None:
            return Verification(count, head, s.problem, cp)
    if cp:
        cp_count = int(cp["count"])
        if count < cp_count:
            p = Problem(
                count + 1,
                "cut_off",
                f"the log ends at entry {count} but the checkpoint of {cp['at']} holds "
                f"{cp_count}: the newest {cp_count - count} entries were cut off",
            )
            return Verification(count, head, p, cp)
        if cp_count and marked != cp["head"]:
            p = Problem(
                cp_count,
                "checkpoint",
                f"entry {cp_count} is not the one the checkpoint of {cp['at']} recorded (the log "
                "was rewritten)",
            )
            return Verification(count, head, p, cp)
    return Verification(count, head, None, cp)


def _checkpoint_message(cp: Mapping[str, Any]) -> bytes:
    return json.dumps(
        [CHECKPOINT_KIND, int(cp["count"]), cp["head"], cp["at"], cp["key_id"]],
        separators=(",", ":"),
    ).encode()


def make_checkpoint(key: bytes, count: int, head: str, at: datetime) -> dict[str, Any]:
    """A signed statement of the log's length and head, to keep away from the database."""
    cp: dict[str, Any] = {
        "kind": CHECKPOINT_KIND,
        "count": count,
        "head": head,
        "at": timestamp(at),
        "key_id": key_id(key),
    }
    cp["signature"] = hmac.new(key, _checkpoint_message(cp), hashlib.sha256).hexdigest()
    return cp


def check_checkpoint(key: bytes, cp: Any) -> dict[str, Any]:
    """The checkpoint if it is well formed and signed under `key`; ValueError saying why not."""
    if not isinstance(cp, dict) or cp.get("kind") != CHECKPOINT_KIND:
        raise ValueError(
            "not a ModelMint audit checkpoint (written by `modelmint audit checkpoint`)"
        )
    try:
        count = int(cp["count"])
        message = _checkpoint_message(cp)
    except (KeyError, TypeError, ValueError):
        raise ValueError("the checkpoint lacks count, head, at or key_id") from None
    if count < 0:
        raise ValueError("the checkpoint's count is negative")
    if cp.get("key_id") != key_id(key):
        raise ValueError(
            f"the checkpoint was signed by another key (id {cp.get('key_id')}, this host's is "
            f"{key_id(key)}); verify on a host with the key that wrote it"
        )
    good = hmac.new(key, message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(good, str(cp.get("signature", ""))):
        raise ValueError("the checkpoint's signature does not match: the file was changed")
    return dict(cp)


__all__ = [
    "Actor",
    "Verification",
    "acting_as",
    "check_checkpoint",
    "check_time",
    "clean",
    "combine",
    "current_actor",
    "derive_key",
    "key_id",
    "mac",
    "make_checkpoint",
    "message",
    "set_actor",
    "snapshot",
    "timestamp",
    "verify_segment",
]
