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


def mac(key: bytes, entry: Mapping[str, Any], prev: str) -> str:
    message = json.dumps(
        [entry[f] for f in FIELDS] + [prev], ensure_ascii=False, separators=(",", ":")
    )
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


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


def verify(
    rows: Iterable[Mapping[str, Any]], key: bytes, checkpoint: Mapping[str, Any] | None = None
) -> Verification:
    """Walk the entries in `seq` order and name the first that breaks the chain; with a
    checkpoint (already checked by `check_checkpoint`), also find a cut-off tail."""
    mine = key_id(key)
    expected, prev, count = 1, GENESIS, 0
    at_checkpoint: str | None = None
    cp_count = int(checkpoint["count"]) if checkpoint else 0
    for row in rows:
        seq = int(row["seq"])
        if seq != expected:
            if seq > expected:
                gone = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
                return _bad(
                    count,
                    prev,
                    Problem(expected, "missing", f"entries {gone} are missing (deleted)"),
                    checkpoint,
                )
            return _bad(
                count,
                prev,
                Problem(
                    seq,
                    "out_of_order",
                    f"entry {seq} appears again after entry {expected - 1} (reordered or duplicated)",
                ),
                checkpoint,
            )
        if row["prev"] != prev:
            return _bad(
                count,
                prev,
                Problem(
                    seq,
                    "out_of_order",
                    f"entry {seq} does not follow entry {seq - 1} (reordered, inserted or the one before it was replaced)",
                ),
                checkpoint,
            )
        if row["key_id"] != mine:
            return _bad(
                count,
                prev,
                Problem(
                    seq,
                    "other_key",
                    f"entry {seq} was signed by another key (id {row['key_id']}, this host's is {mine}); set MODELMINT_SECRET_KEY to the key of the host that wrote it",
                ),
                checkpoint,
            )
        if not hmac.compare_digest(mac(key, row, prev), str(row["mac"])):
            return _bad(
                count,
                prev,
                Problem(
                    seq,
                    "edited",
                    f"entry {seq} does not match its MAC: it was changed after it was written, or "
                    "put there by someone without the key",
                ),
                checkpoint,
            )
        prev, count, expected = str(row["mac"]), count + 1, expected + 1
        if count == cp_count:
            at_checkpoint = prev
    if checkpoint:
        if count < cp_count:
            return _bad(
                count,
                prev,
                Problem(
                    count + 1,
                    "cut_off",
                    f"the log ends at entry {count} but the checkpoint of {checkpoint['at']} holds {cp_count}: the newest {cp_count - count} entries were cut off",
                ),
                checkpoint,
            )
        if at_checkpoint != checkpoint["head"]:
            return _bad(
                count,
                prev,
                Problem(
                    cp_count,
                    "checkpoint",
                    f"entry {cp_count} is not the one the checkpoint of {checkpoint['at']} recorded (the log was rewritten)",
                ),
                checkpoint,
            )
    return Verification(count, prev, None, dict(checkpoint) if checkpoint else None)


def _bad(
    count: int, head: str, problem: Problem, checkpoint: Mapping[str, Any] | None
) -> Verification:
    return Verification(count, head, problem, dict(checkpoint) if checkpoint else None)


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
    "current_actor",
    "derive_key",
    "key_id",
    "mac",
    "make_checkpoint",
    "set_actor",
    "snapshot",
    "timestamp",
    "verify",
]
