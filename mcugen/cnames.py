"""Turning model and layer names (which may hold any character) into C
identifiers."""
from __future__ import annotations

import re

C_KEYWORDS = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef union
    unsigned void volatile while _Bool _Complex _Imaginary asm bool true false NULL main""".split()
)


def c_identifier(name: str, fallback: str = "m") -> str:
    s = re.sub(r"[^0-9A-Za-z_]", "_", name)
    s = re.sub(r"_+", "_", s).strip("_")
    if not s:
        s = fallback
    if s[0].isdigit():
        s = f"{fallback}_{s}"
    if s in C_KEYWORDS or s.startswith("mcg_") or re.match(r"_[A-Z_]", s):
        s = f"{fallback}_{s}"
    return s


def unique_identifiers(names: list[str], fallback: str = "l") -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        base = c_identifier(name, fallback)
        ident, k = base, 1
        while ident in seen:
            k += 1
            ident = f"{base}_{k}"
        seen.add(ident)
        out.append(ident)
    return out
