"""Register, promote and roll back ``name:version`` models. Artifacts are immutable and
checksummed; aliases (production, candidate) move in single audited transactions."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelmint import audit
from modelmint.errors import Conflict, InvalidInput, NotFound
from modelmint.modeling import LoadedModel, load_model_dir, verify
from modelmint.modeling.model_dir import write_manifest
from modelmint.store import Store
from modelmint.types import ModelRef

ALIASES = ("production", "candidate")


def parse_ref(ref: str) -> tuple[str, int | None]:
    """'name:3' -> ('name', 3); 'name' -> ('name', None)."""
    m = re.fullmatch(r"([a-z0-9][a-z0-9_-]*)(?::(\d+|production|candidate))?", ref.strip())
    if not m:
        raise InvalidInput(
            f"'{ref}' is not a model reference; write NAME:VERSION, e.g. review-sentiment:1"
        )
    name, ver = m.group(1), m.group(2)
    if ver is None:
        return name, None
    if ver.isdigit():
        return name, int(ver)
    return name, -1 if ver == "production" else -2


def actor() -> str:
    """Who acts (modelmint.audit.current_actor): cli:<user>, token:admin, job:retrain, ..."""
    return audit.current_actor().name


def code_version() -> str:
    """ModelMint's version, plus the git commit when running from a checkout."""
    from modelmint import __version__

    root = Path(__file__).resolve().parents[3]
    try:
        head = (root / ".git" / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            head = (root / ".git" / head[5:]).read_text().strip()
        return f"{__version__}+g{head[:12]}"
    except OSError:
        return __version__


def _to_ref(store: Store, row: dict[str, Any]) -> ModelRef:
    aliases = tuple(
        a["alias"] for a in store.models.aliases(row["name"]) if a["version"] == row["version"]
    )
    ds = store.datasets.get_by_id(row["dataset_id"])
    return ModelRef(
        name=row["name"],
        version=row["version"],
        path=Path(row["path"]),
        checksum=row["checksum"],
        dataset=f"{ds['name']}:{ds['version']}",
        base_model=row["base_model"],
        metrics=row["metrics"],
        aliases=aliases,
    )


def register(
    store: Store,
    models_dir: Path,
    name: str,
    staged_dir: Path,
    *,
    dataset_id: int,
    metrics: dict[str, Any],
) -> ModelRef:
    """Move a freshly trained model directory into the registry as the next version of `name`."""
    config = json.loads((staged_dir / "config.json").read_text())
    config["metrics"] = metrics
    config["lineage"] = {
        "dataset": config.get("dataset"),
        "dataset_hash": config.get("dataset_hash"),
        "base_model": config.get("base_model"),
        "code_version": code_version(),
        "created_by": actor(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (staged_dir / "config.json").write_text(
        json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True)
    )
    checksum = write_manifest(staged_dir)
    (models_dir / name).mkdir(mode=0o700, parents=True, exist_ok=True)
    version = store.models.next_version(name)
    for _attempt in range(50):
        final = models_dir / name / f"v{version}"
        try:
            # claim the number by creating its folder exclusively. A folder that exists belongs
            # to another process registering right now, or to a crash: it is never deleted,
            # the number is skipped.
            final.mkdir(mode=0o700)
        except FileExistsError:
            version += 1
            continue
        os.replace(staged_dir, final)  # onto our own empty folder
        try:
            row = store.models.create(
                name=name,
                version=version,
                dataset_id=dataset_id,
                base_model=config["base_model"],
                task=config["task"],
                path=str(final),
                checksum=checksum,
                train_config=config["train_config"],
                metrics=metrics,
                created_by=actor(),
            )
        except Conflict:  # a row without its folder (files removed by hand): skip that number
            os.replace(final, staged_dir)
            final.mkdir(mode=0o700, exist_ok=True)
            version += 1
            continue
        except BaseException:
            os.replace(final, staged_dir)
            raise
        for p in final.rglob("*"):
            if p.is_file():
                p.chmod(0o400)  # private, immutable by convention; the manifest checks
        return _to_ref(store, row)
    raise Conflict(f"could not register {name}: too many concurrent registrations; retry")


def _versions_line(store: Store, name: str) -> str:
    """'versions of clinc: 1, 2 (production), 3 (candidate)', for messages that name the fix."""
    rows = store.models.list(name)
    if not rows:
        return f"'{name}' has no versions yet; train one with `modelmint train {name}`"
    tags: dict[int, list[str]] = {}
    for a in store.models.aliases(name):
        tags.setdefault(a["version"], []).append(a["alias"])
    shown = [
        f"{r['version']}"
        + (f" ({', '.join(sorted(tags[r['version']]))})" if r["version"] in tags else "")
        for r in rows
    ]
    return f"versions of {name}: {', '.join(shown)}"


def _example_version(store: Store, name: str) -> str:
    """The newest version not already in production, for an example command."""
    rows = store.models.list(name)
    production = store.models.resolve_alias(name, "production")
    others = [r["version"] for r in rows if r["version"] != production]
    return str(others[-1]) if others else "VERSION"


def get(store: Store, ref: str) -> ModelRef:
    name, version = parse_ref(ref)
    if version is None or version < 0:
        alias = "candidate" if version == -2 else "production"
        v = store.models.resolve_alias(name, alias)
        if v is None:
            raise NotFound(
                f"'{name}' has no {alias} version; promote one with "
                f"`modelmint models promote {name}:VERSION`"
            )
        version = v
    return _to_ref(store, store.models.get(name, version))


def list_models(store: Store, name: str | None = None) -> list[ModelRef]:
    return [_to_ref(store, r) for r in store.models.list(name)]


def load(store: Store, ref: str) -> tuple[ModelRef, LoadedModel]:
    mref = get(store, ref)
    if verify(mref.path) != mref.checksum:
        raise Conflict(f"model {mref.ref} on disk does not match the registry checksum; restore it")
    return mref, load_model_dir(mref.path)


def promote(
    store: Store,
    ref: str,
    *,
    alias: str = "production",
    reason: str = "",
    expect_current: int | str | None = "any",
) -> int | None:
    """Point `alias` at the model ``NAME:VERSION``, in one audited transaction. Returns the
    version it pointed at before. With ``expect_current``, it is a compare-and-set: Conflict if
    someone moved the alias in the meantime.

    Refused: a reference without a version number (InvalidInput: ``clinc`` or
    ``clinc:production`` would re-point the alias at itself), and the version the alias already
    points at (Conflict: a promotion that changes nothing would leave a no-op audit row, and a
    no-op for the next rollback)."""
    if alias not in ALIASES:
        raise InvalidInput(f"unknown alias '{alias}'; use one of {', '.join(ALIASES)}")
    name, version = parse_ref(ref)
    if version is None or version < 0:
        # 'clinc' or 'clinc:production' would silently re-point an alias at what it already
        # is (or at whatever another alias says): a promotion names the exact version
        raise InvalidInput(
            f"'{ref}' names no version; promote NAME:VERSION, e.g. "
            f"`modelmint models promote {name}:{_example_version(store, name)}` "
            f"({_versions_line(store, name)})"
        )
    mref = get(store, ref)
    current = store.models.resolve_alias(mref.name, alias)
    if current == mref.version:
        raise Conflict(
            f"{mref.ref} is already {alias}; nothing to promote - name another version "
            f"({_versions_line(store, mref.name)}), or undo a promotion with "
            f"`modelmint models rollback {mref.name}`"
        )
    if verify(mref.path) != mref.checksum:
        raise Conflict(
            f"model {mref.ref} on disk does not match the checksum it was registered with; "
            "restore its files or re-train before promoting it"
        )
    moved = store.models.set_alias(
        mref.name,
        alias,
        mref.version,
        action="promote",
        actor=actor(),
        reason=reason or "manual promotion",
        expect_current=expect_current,
    )
    store.audit.record(
        "model.promote",
        f"model:{mref.name}",
        before={"alias": alias, "version": current},
        after={"alias": alias, "version": mref.version, "reason": reason or "manual promotion"},
    )
    return moved


def rollback(
    store: Store, name: str, *, alias: str = "production", reason: str = ""
) -> tuple[int, int]:
    """Point `alias` back at the version it pointed at before the promotion that made the
    current version live.

    Returns (from_version, to_version). Compare-and-set, so two rollbacks at once cannot both
    win. Conflict when there is nothing to roll back to: no earlier promotion, or only
    re-promotions of the current version (audit rows older versions could leave)."""
    current = store.models.resolve_alias(name, alias)
    if current is None:
        raise NotFound(
            f"'{name}' has no {alias} version to roll back; see `modelmint models list {name}`"
        )
    previous = None
    for ev in reversed(store.models.events(name)):
        if (
            ev["alias"] == alias
            and ev["action"] == "promote"
            and ev["to_version"] == current
            and ev["from_version"] is not None
            and ev["from_version"] != current  # a re-promotion of the same version changed nothing
        ):
            previous = ev["from_version"]
            break
    if previous is None:
        raise Conflict(
            f"{name}@{alias} = {current} has no earlier version to roll back to; promote a "
            f"specific version with `modelmint models promote {name}:VERSION` "
            f"({_versions_line(store, name)})"
        )
    store.models.set_alias(
        name,
        alias,
        previous,
        action="rollback",
        actor=actor(),
        reason=reason or "manual rollback",
        expect_current=current,
    )
    store.audit.record(
        "model.rollback",
        f"model:{name}",
        before={"alias": alias, "version": current},
        after={"alias": alias, "version": previous, "reason": reason or "manual rollback"},
    )
    return current, previous
