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


# Names a parameter of the generated invoke function must not take: what its
# body or prototype uses (the copy-out, the fixed-width types).
_BODY_NAMES = frozenset("memcpy memset in out".split())


def io_identifiers(input_names: list[str], output_names: list[str], model: str) -> tuple[list[str], list[str]]:
    """Lower-case C identifiers for a model's inputs and outputs, unique
    together (they are the parameters of ``<model>_invoke``, and upper-cased
    they name the ``<MODEL>_INPUT_<NAME>_SIZE`` ... macros). A name that
    would shadow what the function uses (a ``*_t`` type, memcpy, the model's
    own symbols) gets an ``input_`` / ``output_`` prefix."""
    seen: set[str] = set()
    result: tuple[list[str], list[str]] = ([], [])
    for names, prefix, out in ((input_names, "input", result[0]), (output_names, "output", result[1])):
        for k, name in enumerate(names):
            base = c_identifier(str(name).lower(), prefix)
            if (base in _BODY_NAMES or base.endswith("_t") or base.startswith(("mcg", f"{model}_"))
                    or base == model):
                base = f"{prefix}_{base}"
            ident, j = base, 1
            while ident in seen:
                j += 1
                ident = f"{base}_{j}"
            seen.add(ident)
            out.append(ident)
    return result
