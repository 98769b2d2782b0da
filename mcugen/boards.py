"""The board catalogue: one TOML file per board in boards/."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache

from .errors import McugenError
from .resources import boards_dir

ARCHES = {"avr", "arm"}

# The kernel families a core runs, most specific first: each names a folder
# templates/<family>/kernels/ whose kernels replace the generic ones of
# templates/kernels/ (the portable reference, used where no family has one).
#   avr       8-bit AVR: weights streamed from flash (LPM), inline assembly
#   arm_dsp   ARMv7E-M / ARMv8-M with the DSP extension: SXTB16, SMLAD, ...
#   arm_v7m   ARMv7-M: SMULL, unaligned word loads, no SIMD
#   arm_v6m   ARMv6-M (Cortex-M0/M0+): Thumb-1, 32x32->32 multiply, aligned loads only
KERNEL_FAMILIES = {
    "avr": ("avr",),
    "cortex-m0": ("arm_v6m",),
    "cortex-m0plus": ("arm_v6m",),
    "cortex-m1": ("arm_v6m",),
    "cortex-m3": ("arm_v7m",),
    "cortex-m4": ("arm_dsp", "arm_v7m"),
    "cortex-m7": ("arm_dsp", "arm_v7m"),
    "cortex-m33": ("arm_dsp", "arm_v7m"),
}
# The C condition under which a family's kernels compile: the generated file
# holds the family's kernel and the generic one behind it, so that the same
# files build on the host too (the project's `pio test -e native`).
FAMILY_GUARDS = {
    "avr": "defined(__AVR__)",
    "arm_dsp": "defined(__ARM_FEATURE_DSP)",
    "arm_v7m": "defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M' && __ARM_ARCH >= 7",
    "arm_v6m": "defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'",
}


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    mcu: str
    arch: str
    core: str
    clock_hz: int
    flash_bytes: int
    sram_bytes: int
    reserve_flash_bytes: int
    reserve_sram_bytes: int
    platformio: dict
    toolchain: dict
    aliases: tuple[str, ...] = ()
    simulator: dict = field(default_factory=dict)

    @property
    def kernel_families(self) -> tuple[str, ...]:
        """Template folders of this board's optimized kernels, most specific first."""
        return KERNEL_FAMILIES.get(self.core, KERNEL_FAMILIES.get(self.arch, ()))

    @property
    def flash_budget(self) -> int:
        return self.flash_bytes - self.reserve_flash_bytes

    @property
    def sram_budget(self) -> int:
        return self.sram_bytes - self.reserve_sram_bytes


REQUIRED = ("name", "description", "mcu", "arch", "core", "clock_hz", "flash_bytes", "sram_bytes",
            "reserve_flash_bytes", "reserve_sram_bytes", "platformio", "toolchain")


def parse_board(text: str, origin: str) -> Board:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise McugenError(f"board file {origin}: {e}") from None
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise McugenError(f"board file {origin}: missing {', '.join(missing)}")
    if data["arch"] not in ARCHES:
        raise McugenError(f"board file {origin}: arch must be one of {sorted(ARCHES)}")
    for k in ("platform", "board", "framework"):
        if k not in data["platformio"]:
            raise McugenError(f"board file {origin}: [platformio] needs {k}")
    data["aliases"] = tuple(data.get("aliases", ()))
    known = set(Board.__dataclass_fields__)
    return Board(**{k: v for k, v in data.items() if k in known})


@lru_cache(maxsize=1)
def all_boards() -> dict[str, Board]:
    boards = {}
    for path in sorted(boards_dir().glob("*.toml")):
        b = parse_board(path.read_text(), path.name)
        boards[b.name] = b
    return boards


def get_board(name: str) -> Board:
    key = name.lower()
    for b in all_boards().values():
        if key == b.name or key in b.aliases:
            return b
    raise McugenError(f"unknown board {name!r}; known boards: {', '.join(sorted(all_boards()))}")
