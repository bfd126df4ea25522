"""PII detection and redaction, on by default before anything is stored.

One reusable function, :func:`redact`, used by ``data add`` and by the server's prediction log.
Each finding is replaced by a typed placeholder; the counts per type go into the audit.

What it finds (rules, written by hand: the well-kept libraries for this - Presidio, scrubadub -
need spaCy models from a hub, know no Chinese ID or mainland phone formats, and would add
hundreds of MB for six patterns; see docs/design.md):

==================  ===============================================================
type                rule
==================  ===============================================================
URL_CREDENTIALS     scheme://user:password@host...  (before EMAIL: it contains '@')
EMAIL               local@domain.tld
CN_ID               18-character resident ID: region + valid birth date + ISO 7064
                    MOD 11-2 check character
BANK_CARD           13-19 digits (optionally grouped by spaces or '-'), issuer prefix
                    3/4/5/6, Luhn-valid, not right after "order/单号/..." context words
PHONE               mainland mobile (1[3-9]x, with or without +86), mainland landline
                    (0xx-xxxxxxxx), international (+CC ...), North American
IP                  IPv4 (each octet <= 255, not after "version/版本") and IPv6
                    (validated by ``ipaddress``)
==================  ===============================================================

Before matching, the rules see a folded copy of the text (:func:`fold`), so that a number typed
in full-width digits (１３８１２３４５６７８), split by zero-width characters, or grouped by dots
or no-break spaces is still found: full-width ASCII forms become ASCII, every space separator
(U+00A0, U+202F, U+3000, ...) a plain space, Unicode dashes '-', decimal digits of any script
ASCII digits, and invisible characters (format characters such as U+200B-U+200D, U+2060,
U+FEFF, U+00AD, bidi controls; and the Hangul fillers) are dropped. Findings are mapped back to
offsets in the text as given (an invisible character inside a finding belongs to it), and
:func:`redact` replaces exactly those spans: everything else comes back as it was sent, not
folded.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import date

PLACEHOLDERS = {
    "URL_CREDENTIALS": "[URL_CREDENTIALS]",
    "EMAIL": "[EMAIL]",
    "CN_ID": "[CN_ID]",
    "BANK_CARD": "[BANK_CARD]",
    "PHONE": "[PHONE]",
    "IP": "[IP]",
}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


# Every repetition is bounded: the redactor runs on untrusted request text, so no pattern may go
# quadratic on a long input (schemes <= 32 characters, email parts <= 64 / 253).
_URL_CRED = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{0,31}://[^\s/:@]+:[^\s/@]+@[^\s<>\"'，。；）)]+")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}"
    r"\.[A-Za-z]{2,24}(?![A-Za-z])"
)
_CN_ID = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[\dXx](?![0-9A-Za-z])"
)
# digits grouped by one kind of separator: space (no-break spaces are folded to it), '-' or '.'
_CARD = re.compile(r"(?<![\d-])(?<!\d\.)(?:\d[ .-]?){12,18}\d(?![\d-])(?!\.\d)")
_CARD_SEP = re.compile(r"[ .-]")
_PHONES = [
    # mainland mobile, optional +86 / 86, optional separators 3-4-4
    re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)"),
    # international with a + prefix: +CC then 6-14 more digits in groups
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\d)"),
    # North American (555) 123-4567 / 555-123-4567
    re.compile(r"(?<!\d)(?:\(\d{3}\)\s?|\d{3}[-.])\d{3}[-.]\d{4}(?!\d)"),
    # mainland landline 010-12345678, 0755-1234567
    re.compile(r"(?<![\d-])0\d{2,3}-\d{7,8}(?![\d-])"),
]
_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])"
)
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def cn_id_valid(s: str) -> bool:
    """GB 11643: a valid birth date and the MOD 11-2 check character."""
    s = s.upper()
    if len(s) != 18 or not s[:17].isdigit():
        return False
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    if not date(1880, 1, 1) <= born <= date.today():
        return False
    total = sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == s[17]


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Words just before a number that make it something else (Presidio-style context words).
_NOT_CARD = re.compile(
    r"(订单|单号|运单|快递|编号|order|tracking|invoice|ref)\W{0,3}[#:：号]?\s*$", re.I
)
_NOT_IP = re.compile(r"(版本|version|ver\.?|\bv)\s*$", re.I)


def _context_before(m: re.Match[str], width: int = 16) -> str:
    return m.string[max(0, m.start() - width) : m.start()]


def _card(m: re.Match[str]) -> bool:
    raw = m.group(0)
    if _NOT_CARD.search(_context_before(m)):
        return False
    digits = _CARD_SEP.sub("", raw)
    if not 13 <= len(digits) <= 19 or digits[0] not in "3456":
        return False
    seps = set(_CARD_SEP.findall(raw))
    if len(seps) > 1:
        return False
    if seps:  # grouped numbers are grouped in fours (Amex 4-6-5 is the exception)
        groups = [len(g) for g in _CARD_SEP.split(raw)]
        if not (all(g == 4 for g in groups[:-1]) or groups == [4, 6, 5]):
            return False
    return luhn_valid(digits)


def _phone_digits_ok(m: re.Match[str]) -> bool:
    n = sum(c.isdigit() for c in m.group(0))
    return 7 <= n <= 15


def _ipv6(m: re.Match[str]) -> bool:
    s = m.group(0)
    if s.count(":") < 2 or len(s) < 3:
        return False
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return True


# Invisible characters that are letters or marks rather than format characters (category Cf).
_ALSO_INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0")
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2212\ufe63")


class _FoldTable(dict[int, str | None]):
    """``str.translate`` table for :func:`fold`, filled in as characters are met (the C loop of
    ``translate`` asks ``__missing__`` once per new character). Bounded: past 65,536 entries a
    new character is computed each time instead of kept, so no input can grow it further."""

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        out: str | None
        if unicodedata.category(ch) == "Cf" or ch in _ALSO_INVISIBLE:
            out = None
        elif 0xFF01 <= code <= 0xFF5E:  # full-width ASCII forms
            out = chr(code - 0xFEE0)
        elif unicodedata.category(ch) == "Zs":
            out = " "
        elif ch in _DASHES:
            out = "-"
        elif (digit := unicodedata.decimal(ch, None)) is not None:
            out = str(digit)
        else:
            out = ch
        if len(self) < 65_536:
            self[code] = out
        return out


_FOLD = _FoldTable()


def fold(text: str) -> tuple[str, list[int] | None]:
    """The copy of ``text`` the rules match on (see the module docstring), and for each of its
    characters the offset of the character it came from in ``text``; None when the offsets are
    the same (nothing was dropped)."""
    if text.isascii():
        return text, None
    folded = text.translate(_FOLD)
    if len(folded) == len(text):
        return folded, None
    return folded, [i for i, ch in enumerate(text) if _FOLD[ord(ch)] is not None]


def find_pii(text: str) -> list[Finding]:
    """Non-overlapping findings, earlier rules in the table winning ties. Offsets are into
    ``text`` as given; the rules match on its folded copy."""
    folded, origin = fold(text)
    found = _find_folded(folded)
    if origin is None:
        return found
    return [Finding(f.kind, origin[f.start], origin[f.end - 1] + 1) for f in found]


def _find_folded(text: str) -> list[Finding]:
    found: list[Finding] = []

    def add(kind: str, pattern: re.Pattern[str], ok=None) -> None:
        for m in pattern.finditer(text):
            if ok is not None and not ok(m):
                continue
            s, e = m.span()
            if any(s < f.end and f.start < e for f in found):
                continue
            found.append(Finding(kind, s, e))

    if "://" in text:
        add("URL_CREDENTIALS", _URL_CRED)
    if "@" in text:
        add("EMAIL", _EMAIL)
    add("CN_ID", _CN_ID, lambda m: cn_id_valid(m.group(0)))
    add("BANK_CARD", _CARD, _card)
    for p in _PHONES:
        add("PHONE", p, _phone_digits_ok)
    add("IP", _IPV4, lambda m: not _NOT_IP.search(_context_before(m)))
    if ":" in text:
        add("IP", _IPV6, _ipv6)
    return sorted(found, key=lambda f: f.start)


def redact(text: str) -> tuple[str, Counter[str]]:
    """Replace every finding with its typed placeholder. Returns (text, counts per type)."""
    findings = find_pii(text)
    if not findings:
        return text, Counter()
    out, pos = [], 0
    for f in findings:
        out.append(text[pos : f.start])
        out.append(PLACEHOLDERS[f.kind])
        pos = f.end
    out.append(text[pos:])
    return "".join(out), Counter(f.kind for f in findings)
