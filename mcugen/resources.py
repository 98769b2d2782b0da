"""Where the shipped data lives: templates/, firmware/ and boards/ sit at the
top of the source tree and inside the wheel under mcugen/_data/."""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    for base in (_PKG / "_data", _PKG.parent):
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(f"mcugen installation is missing its {name}/ folder")


def templates_dir() -> Path:
    return data_dir("templates")


def firmware_dir() -> Path:
    return data_dir("firmware")


def boards_dir() -> Path:
    return data_dir("boards")
