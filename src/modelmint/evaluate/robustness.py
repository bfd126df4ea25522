"""Robustness: the same test examples, perturbed the way real traffic is, scored against the
clean accuracy. Seeded, so the same model gets the same numbers.

Each perturbation is one that an encoder can be hurt by; none is undone by the Unicode
normalisation (NFKC) that the encoders apply before tokenising. (A full-width/half-width
check used to be here: NFKC folds full-width forms back, so it could never show a drop.)

English, and any data that is not mostly Chinese:

* **keyboard typos** - about one edit per 12 letters: a QWERTY neighbour typed instead of the
  letter (half the edits), a neighbour typed as well, a letter dropped, or two letters swapped;
* **word drops** - about one word in seven left out (at least one, never all);
* **casing** - all upper or all lower case (uncased encoders such as all-MiniLM-L6-v2 see no
  change; cased ones such as e5 do);
* **punctuation** - removed (or "!!!" added where there is none).

Chinese (more than half of the texts contain CJK characters):

* **homophones** - about one character in seven replaced by another with the same pinyin,
  tone ignored (the candidates a pinyin keyboard offers for the syllable), drawn from the 3,755
  common characters of GB 2312 level 1; readings from pypinyin, in context;
* **shape-alike characters** - characters of a small table of look-alike groups (形近字, below)
  replaced, each with probability 1/2 (at least one), by another of their group; texts with
  none of them are left as they are (the report counts how many changed);
* **traditional/simplified** - simplified text written in traditional characters, and
  traditional text in simplified ones (OpenCC's phrase-level conversion, s2t / t2s);
* **punctuation** - as above.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelmint.modeling import Model
from modelmint.types import Example

_CJK = re.compile(r"[\u3400-\u9fff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
MAX_EXAMPLES = 300


@dataclass(frozen=True)
class Perturbation:
    """One way of perturbing a text: `apply(text, rng)` returns the perturbed text (the same
    text where it does not apply). `language` is "en" (for data that is not mostly Chinese),
    "zh" (for Chinese) or "any"; `what` is the one line the reports print."""

    name: str
    language: str
    what: str
    apply: Callable[[str, random.Random], str]

    def __call__(self, text: str, rng: random.Random) -> str:
        return self.apply(text, rng)


# English --------------------------------------------------------------------------------------

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _qwerty_neighbours() -> dict[str, str]:
    """Each letter's neighbours on a QWERTY keyboard: left and right on its row, and the keys
    touching it on the rows above and below (rows are offset by about half a key)."""
    pos = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    out: dict[str, str] = {}
    for c, (r, i) in pos.items():
        near = []
        for rr, ii in (
            (r, i - 1),
            (r, i + 1),
            (r - 1, i),
            (r - 1, i + 1),
            (r + 1, i - 1),
            (r + 1, i),
        ):
            if 0 <= rr < len(_ROWS) and 0 <= ii < len(_ROWS[rr]):
                near.append(_ROWS[rr][ii])
        out[c] = "".join(near)
    return out


NEIGHBOURS = _qwerty_neighbours()


def _near(c: str, rng: random.Random) -> str:
    n = rng.choice(NEIGHBOURS[c.lower()])
    return n.upper() if c.isupper() else n


def _keyboard_typos(text: str, rng: random.Random) -> str:
    """About one edit per 12 ASCII letters (at least one): a neighbouring key instead of the
    letter (1/2), a neighbour typed as well (1/5), the letter dropped (3/20), or the letter
    swapped with the next one (3/20)."""
    letters = [i for i, c in enumerate(text) if c.isascii() and c.isalpha()]
    if not letters:
        return text
    chars = list(text)
    k = max(1, len(letters) // 12)
    for i in sorted(rng.sample(letters, k), reverse=True):  # right to left: indices stay valid
        op = rng.random()
        if op < 0.5:
            chars[i] = _near(chars[i], rng)
        elif op < 0.7:
            chars.insert(i + 1, _near(chars[i], rng))
        elif op < 0.85 and len(letters) > 1:
            del chars[i]
        elif i + 1 < len(chars) and chars[i + 1] != chars[i]:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            chars[i] = _near(chars[i], rng)
    return "".join(chars)


def _word_drops(text: str, rng: random.Random) -> str:
    """About one word in seven dropped (at least one, never every word); words are what
    whitespace separates, and the rest are joined by single spaces."""
    words = text.split()
    if len(words) < 2:
        return text
    k = min(len(words) - 1, max(1, round(len(words) / 7)))
    drop = set(rng.sample(range(len(words)), k))
    return " ".join(w for i, w in enumerate(words) if i not in drop)


def _casing(text: str, rng: random.Random) -> str:
    return text.upper() if rng.random() < 0.5 else text.lower()


def _punctuation(text: str, rng: random.Random) -> str:
    stripped = _PUNCT.sub("", text)
    return stripped if stripped.strip() else text + "!!!"


# Chinese --------------------------------------------------------------------------------------


@functools.cache
def _common_characters() -> tuple[str, ...]:
    """The 3,755 level-1 characters of GB 2312 (the common ones, in pinyin order), read off
    the codec: rows 0xB0-0xD7, cells 0xA1-0xFE, the last row ending at 0xF9."""
    return tuple(
        bytes([row, cell]).decode("gb2312")
        for row in range(0xB0, 0xD8)
        for cell in range(0xA1, 0xFF)
        if not (row == 0xD7 and cell > 0xF9)
    )


@functools.cache
def _homophone_groups() -> dict[str, tuple[str, ...]]:
    """Toneless pinyin -> the common characters read that way (each by its usual reading)."""
    from pypinyin import Style, lazy_pinyin

    groups: dict[str, list[str]] = {}
    for c in _common_characters():
        groups.setdefault(lazy_pinyin(c, style=Style.NORMAL)[0], []).append(c)
    return {k: tuple(v) for k, v in groups.items() if len(v) > 1}


def _readings(text: str) -> list[tuple[int, str]]:
    """(index, toneless pinyin) of every CJK character, read in context (pypinyin's phrase
    dictionary picks the reading of a polyphone such as 行 or 重)."""
    from pypinyin import Style, lazy_pinyin

    out: list[tuple[int, str]] = []
    for run in _CJK_RUN.finditer(text):
        syllables = lazy_pinyin(run.group(), style=Style.NORMAL)
        if len(syllables) != len(run.group()):  # not one syllable per character: skip the run
            continue
        out += [(run.start() + j, s) for j, s in enumerate(syllables)]
    return out


def _homophones(text: str, rng: random.Random) -> str:
    """About one CJK character in seven (at least one) that has a homophone among the common
    characters is replaced by one of them, chosen at random."""
    groups = _homophone_groups()
    eligible = [(i, groups[p]) for i, p in _readings(text) if p in groups]
    if not eligible:
        return text
    chars = list(text)
    for i, group in rng.sample(eligible, max(1, round(len(eligible) / 7))):
        chars[i] = rng.choice([c for c in group if c != chars[i]])
    return "".join(chars)


# Groups of characters that are easy to mistake for one another by their shape (形近字), as
# primary-school drills list them; chosen to cover characters that are common in reviews and
# customer messages (好评/差评, 快递, 退换, 满意, 便宜, ...). A character in several groups
# may become any character of any of its groups.
_SHAPE_ALIKE_GROUPS = """
己已巳 未末 人入八 土士 日曰 目自白 刀力刃 千干于 王玉主 大太犬丈 今令
买卖实 折拆析 侯候 货贷 拨拔 戊戍戌 辨辩辫瓣 栗粟 徒徙 暑署 晴睛请清情
理埋 很狠恨 账帐 仓苍 历厉 免兔 鸟乌 问间 住往 休体 怎作 壁璧 概慨
赢羸 真直 竞竟 冶治 斤斥 开井 木术本 午牛 由甲申田 厂广 了子 儿几
夫失矢 乒乓兵 贝见 名各 又叉 丸九 亨享 喝渴 暖缓 谈淡 快块 河何可
园圆 汗汁 坏怀环还 拣捡检验险 换唤焕 苦若 荣劳 牌脾 被破 哀衰衷 陈阵
特持待 峰蜂锋 抢枪 饱抱泡跑炮 洋样 场扬杨 慢漫馒 满瞒 贵贯 便使 值植置
错借惜措 烂拦栏 棒捧 欢劝观 推堆维准 服报 度席渡 常堂党赏尝 西酉 收牧
到倒 装妆状壮 看着 说脱悦锐阅税 没设投 有右友布 用甩 以似 是提题 的约钓
退腿
"""
SHAPE_ALIKES: tuple[str, ...] = tuple(_SHAPE_ALIKE_GROUPS.split())


@functools.cache
def _shape_table() -> dict[str, tuple[str, ...]]:
    table: dict[str, set[str]] = {}
    for group in SHAPE_ALIKES:
        for c in group:
            table.setdefault(c, set()).update(x for x in group if x != c)
    return {c: tuple(sorted(v)) for c, v in table.items()}


def _shape_alikes(text: str, rng: random.Random) -> str:
    """Each character of the table replaced, with probability 1/2 (at least one), by a
    look-alike of its group."""
    table = _shape_table()
    eligible = [i for i, c in enumerate(text) if c in table]
    if not eligible:
        return text
    chosen = [i for i in eligible if rng.random() < 0.5] or [rng.choice(eligible)]
    chars = list(text)
    for i in chosen:
        chars[i] = rng.choice(table[chars[i]])
    return "".join(chars)


@functools.cache
def _converter(config: str) -> Any:
    from opencc import OpenCC  # opencc-python-reimplemented: pure Python, dictionaries included

    return OpenCC(config)


def _traditional_simplified(text: str, rng: random.Random) -> str:
    """Simplified -> traditional (OpenCC s2t, phrase-aware: 头发 -> 頭髮, 发货 -> 發貨); a text
    that has nothing to convert that way is taken to be traditional and converted t2s."""
    converted = _converter("s2t").convert(text)
    return converted if converted != text else _converter("t2s").convert(text)


PERTURBATIONS: dict[str, Perturbation] = {
    p.name: p
    for p in (
        Perturbation(
            "keyboard typos",
            "en",
            "about 1 edit per 12 letters: a QWERTY neighbour instead of or beside a letter, "
            "a letter dropped or two swapped",
            _keyboard_typos,
        ),
        Perturbation("word drops", "en", "about 1 word in 7 left out", _word_drops),
        Perturbation("casing", "en", "all upper or all lower case", _casing),
        Perturbation("punctuation", "any", "punctuation removed", _punctuation),
        Perturbation(
            "homophones",
            "zh",
            "about 1 character in 7 replaced by another with the same pinyin (tone ignored)",
            _homophones,
        ),
        Perturbation(
            "shape-alike characters",
            "zh",
            "look-alike characters swapped (形近字, e.g. 己/已, 快/块, 货/贷)",
            _shape_alikes,
        ),
        Perturbation(
            "traditional/simplified",
            "zh",
            "simplified text in traditional characters, or traditional in simplified (OpenCC)",
            _traditional_simplified,
        ),
    )
}


def robustness(
    model: Model,
    examples: Sequence[Example],
    *,
    split: str = "test",
    seed: int = 0,
    perturbations: Mapping[str, Perturbation] | None = None,
) -> dict[str, Any]:
    """Accuracy under each perturbation on up to 300 test examples (a seeded sample), next to
    the clean accuracy on the same sample. Text classification only. The perturbations run are
    those of the data's language (Chinese when more than half of the texts contain CJK
    characters) from `perturbations` (default: all of `PERTURBATIONS`)."""
    if model.task != "text-classification":
        return {"skipped": f"robustness checks cover text classification, not {model.task}"}
    rows = [e for e in examples if e.split == split]
    rng = random.Random(seed)
    if len(rows) > MAX_EXAMPLES:
        rows = rng.sample(rows, MAX_EXAMPLES)
    texts = [e.text for e in rows]
    truth = np.array([e.label for e in rows])
    labels = np.array(model.labels)

    def accuracy(inputs: list[str]) -> float:
        return float((labels[model.outputs(inputs).argmax(axis=1)] == truth).mean())

    clean = accuracy(texts)
    language = "zh" if sum(bool(_CJK.search(t)) for t in texts) > len(texts) / 2 else "en"
    out: dict[str, Any] = {
        "n": len(rows),
        "clean_accuracy": round(clean, 6),
        "language": language,
        "perturbations": {},
    }
    for name, p in (PERTURBATIONS if perturbations is None else perturbations).items():
        if p.language not in ("any", language):
            continue
        try:
            varied = [p(t, random.Random(f"{seed}:{name}:{i}")) for i, t in enumerate(texts)]
        except ImportError as exc:  # pragma: no cover - both libraries are dependencies
            out["perturbations"][name] = {"what": p.what, "skipped": f"needs {exc.name}"}
            continue
        changed = sum(a != b for a, b in zip(varied, texts, strict=True))
        acc = accuracy(varied)
        out["perturbations"][name] = {
            "what": p.what,
            "accuracy": round(acc, 6),
            "delta": round(acc - clean, 6),
            "changed": changed,
            "example": next((v for v, t in zip(varied, texts, strict=True) if v != t), ""),
        }
    return out
