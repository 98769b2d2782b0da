"""Calibration and test inputs: loading user files, or making random ones."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .errors import McugenError

RANDOM_SAMPLES = 128
RANDOM_RANGE = (-1.0, 1.0)


def load_array(path: str | Path, key: str = "x") -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise McugenError(f"data file not found: {path}")
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if path.suffix == ".npz":
            if not zipfile.is_zipfile(path):
                raise McugenError(f"{path}: not a readable .npz file (not a complete zip archive)")
            with np.load(path, allow_pickle=False) as z:
                if key in z.files:
                    return z[key]
                if len(z.files) == 1:
                    return z[z.files[0]]
                raise McugenError(f"{path}: holds {', '.join(z.files)}; name the inputs array '{key}'")
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise McugenError(f"{path}: not a readable numpy file ({str(e).splitlines()[0][:120]})") from None
    raise McugenError(f"{path}: expected a .npz or .npy file")


def as_inputs(arr: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Validate float samples shaped (N, *shape) (a single sample is accepted)."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu":
        raise McugenError(f"{what} has dtype {arr.dtype}; expected numbers")
    if tuple(arr.shape) == tuple(shape):
        arr = arr[np.newaxis]
    if tuple(arr.shape[1:]) != tuple(shape):
        raise McugenError(
            f"{what} has shape {tuple(arr.shape)}; the model expects (N, {', '.join(map(str, shape))})"
            + ("" if len(shape) != 1 else "")
        )
    if len(arr) == 0:
        raise McugenError(f"{what} holds no samples")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise McugenError(f"{what} holds NaN or infinite values")
    return arr


def load_calibration(path: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    return as_inputs(load_array(path), shape, f"calibration data {path}")


def random_inputs(shape: tuple[int, ...], n: int = RANDOM_SAMPLES, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(*RANDOM_RANGE, size=(n,) + tuple(shape)).astype(np.float32)
