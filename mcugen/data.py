"""Calibration and test inputs: loading user files, or making random ones."""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import McugenError

RANDOM_SAMPLES = 128
RANDOM_RANGE = (-1.0, 1.0)


MAX_SAMPLES = 10_000  # calibration samples read at most (the first ones)
MAX_ARRAY_BYTES = 1 << 30  # an array's declared size, read at most


def _read_npy(f, size: int, what: str, max_rows: int | None) -> tuple[np.ndarray, int]:
    """One .npy stream (a file, or a member of an .npz) of ``size`` bytes,
    its header checked before any data is read: numbers only (no pickles),
    C order, the declared size present in the file. With ``max_rows`` only
    the first rows are read. Returns (array, rows declared)."""
    from numpy.lib import format as npf

    try:
        version = npf.read_magic(f)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unknown .npy version {version}")
        read_header = npf.read_array_header_1_0 if version == (1, 0) else npf.read_array_header_2_0
        shape, fortran, dtype = read_header(f, max_header_size=10000)
    except Exception as e:  # numpy's header parser raises ValueError, SyntaxError, tokenize.TokenError ...
        raise McugenError(f"{what}: not a readable numpy file ({str(e).splitlines()[0][:120] if str(e) else 'bad header'})"
                          ) from None
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise McugenError(f"{what}: has dtype {dtype}; expected numbers (pickled objects are never loaded)")
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise McugenError(f"{what}: declares shape {shape}")
    count = int(np.prod(shape, dtype=object)) if shape else 1
    declared = count * dtype.itemsize
    header_end = f.tell()
    if declared > size - header_end:
        raise McugenError(f"{what}: truncated (its header declares shape {shape}, {declared:,} bytes of data; "
                          f"the file holds {max(size - header_end, 0):,})")
    rows = shape[0] if shape else 1
    if fortran and len(shape) > 1 and max_rows is not None and rows > max_rows:
        raise McugenError(f"{what}: Fortran-ordered; save it in C order (np.ascontiguousarray)")
    if len(shape) > 1 and max_rows is not None and rows > max_rows:
        shape = (max_rows,) + shape[1:]
        count = int(np.prod(shape, dtype=object))
    if count * dtype.itemsize > MAX_ARRAY_BYTES:
        raise McugenError(f"{what}: {count * dtype.itemsize:,} bytes of data, more than the {MAX_ARRAY_BYTES:,} "
                          "mcugen reads")
    data = f.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise McugenError(f"{what}: truncated")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    arr = arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)
    return np.array(arr), rows


def load_array(path: str | Path, key: str = "x", max_rows: int | None = None, warn=None) -> np.ndarray:
    """An array from a .npy file or an .npz archive (under ``key``, or its
    only array), read with its size bounded before anything is allocated;
    with ``max_rows``, only the first rows (and ``warn`` says so)."""
    return load_arrays(path, [(key,)], max_rows, warn, lone=True)[0]


def load_arrays(path: str | Path, keys: list[tuple[str, ...]], max_rows: int | None = None, warn=None,
                lone: bool = True, wanted: str = "") -> list[np.ndarray]:
    """Several arrays of an .npz archive: for each entry of ``keys``, the
    first of its names the archive holds (with ``lone``, an archive of one
    array serves a single key whatever its name; so does a .npy file).
    ``wanted`` says in a refusal what the names mean."""
    from .limits import MAX_DATA_FILE_BYTES, check_input_file, shown

    path = Path(path)
    size = check_input_file(path, "data file", MAX_DATA_FILE_BYTES)
    what = shown(path)
    if path.suffix not in (".npy", ".npz"):
        raise McugenError(f"{what}: expected a .npz or .npy file")
    out = []
    try:
        if path.suffix == ".npy":
            if len(keys) != 1:
                raise McugenError(f"{what}: a .npy file holds one array; {wanted or 'the model needs several'}: "
                                  "save them in an .npz (np.savez)")
            with open(path, "rb") as f:
                arr, rows = _read_npy(f, size, what, max_rows)
            out.append((arr, rows))
        else:
            if not zipfile.is_zipfile(path):
                raise McugenError(f"{what}: not a readable .npz file (not a complete zip archive)")
            with zipfile.ZipFile(path) as z:
                members = {n[:-4] if n.endswith(".npy") else n: n for n in z.namelist()}
                for names in keys:
                    key = next((k for k in names if k in members), None)
                    if key is None and lone and len(keys) == 1 and len(members) == 1:
                        key = next(iter(members))
                    if key is None:
                        shown_names = ", ".join(shown(n) for n in list(members)[:8]) or "nothing"
                        raise McugenError(f"{what}: holds {shown_names}; "
                                          + (wanted or f"name the inputs array '{names[0]}'"))
                    name = members[key]
                    info = z.getinfo(name)
                    if info.file_size > MAX_DATA_FILE_BYTES and max_rows is None:
                        raise McugenError(f"{what}: array {shown(key)!r} is {info.file_size:,} bytes, more than "
                                          f"the {MAX_DATA_FILE_BYTES:,} mcugen reads")
                    with z.open(name) as f:
                        out.append(_read_npy(f, info.file_size, f"{what} (array {shown(key)!r})", max_rows))
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError, zlib.error) as e:
        raise McugenError(f"{what}: not a readable numpy file ({shown(str(e).splitlines()[0])[:120] if str(e) else type(e).__name__})"
                          ) from None
    rows = max((r for a, r in out if a.ndim > 1), default=0)
    if max_rows is not None and rows > max_rows and warn is not None:
        warn(f"warning: {what} holds {rows:,} samples; using the first {max_rows:,}")
    return [a for a, _ in out]


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
    if arr.dtype.kind == "f" and np.any(np.abs(arr[np.isfinite(arr)]) > np.finfo(np.float32).max):
        raise McugenError(f"{what} holds values beyond the float32 range")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise McugenError(f"{what} holds NaN or infinite values")
    return arr


def input_keys(names: list[str]) -> list[tuple[str, ...]]:
    """The .npz names each input's array may have: 'x' for a model with one
    input (as always), else its name or x0, x1 ... in the model's order."""
    if len(names) == 1:
        return [("x", names[0], "x0")]
    return [(n, f"x{k}") for k, n in enumerate(names)]


def describe_inputs(names: list[str], shapes: list[tuple[int, ...]]) -> str:
    """What an .npz must hold for the model's inputs, for a refusal."""
    from .limits import shown

    if len(names) == 1:
        return f"name the inputs array 'x', shaped (N, {', '.join(map(str, shapes[0]))})"
    parts = [f"{shown(n)!r} (or 'x{k}') shaped (N, {', '.join(map(str, s))})"
             for k, (n, s) in enumerate(zip(names, shapes))]
    return f"the model's {len(names)} inputs need one array each: {', '.join(parts)}"


def load_inputs(path: str | Path, names: list[str], shapes: list[tuple[int, ...]], what: str,
                max_rows: int | None = None, warn=None) -> list[np.ndarray]:
    """Float samples for each model input, from an .npz with one array per
    input (``input_keys``) or, for a one-input model, a .npy; checked for
    shape and for the same number of samples in each."""
    from .limits import shown

    arrays = load_arrays(path, input_keys(names), max_rows=max_rows, warn=warn, lone=len(names) == 1,
                         wanted=describe_inputs(names, shapes))
    label = (lambda k: f"{what} {shown(path)}") if len(names) == 1 else (
        lambda k: f"{what} {shown(path)} (input {shown(names[k])!r})")
    xs = [as_inputs(a, s, label(k)) for k, (a, s) in enumerate(zip(arrays, shapes))]
    counts = [len(x) for x in xs]
    if len(set(counts)) > 1:
        detail = ", ".join(f"{shown(n)!r} {c}" for n, c in zip(names, counts))
        raise McugenError(f"{what} {shown(path)}: the inputs hold different numbers of samples ({detail})")
    return xs


def load_calibration(path: str | Path, shape, warn=None, names: list[str] | None = None) -> list[np.ndarray] | np.ndarray:
    """Calibration samples: at most MAX_SAMPLES, the first ones (a warning
    says when the file holds more). ``shape`` is one input's shape (returns
    its array) or a list of every input's shape with ``names`` (returns one
    array per input)."""
    if names is None:
        return load_inputs(path, ["x"], [tuple(shape)], "calibration data", MAX_SAMPLES, warn)[0]
    return load_inputs(path, names, [tuple(s) for s in shape], "calibration data", MAX_SAMPLES, warn)


def random_inputs(shape: tuple[int, ...], n: int = RANDOM_SAMPLES, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(*RANDOM_RANGE, size=(n,) + tuple(shape)).astype(np.float32)
