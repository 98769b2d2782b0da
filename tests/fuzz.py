"""Seeded fuzzing of mcugen's front end: mutated .tflite, .h5, .keras and
calibration files through the pipeline (and, one case in CLI_EVERY, through
`mcugen build` in-process), in worker processes with a time limit per case.

Three classes of case: the unmutated seeds, harmless mutants (a file called
`harness`, tensors renamed, the flatbuffer repacked, a .keras zip rewritten,
calibration data in float64 / .npy / fewer samples / a narrower range) and
mutants. Each must end one of these ways:
  * refused (mutants only): a McugenError whose message is one line, no
    longer than MAX_REFUSAL_CHARS once the case's paths are taken out, and
    matching a known reason of tests/refusal_reasons.py; `build` leaves the
    folder exactly as it was (compared before and after);
  * accepted (always, for seeds and harmless mutants): the generated C
    compiles warning-free for the host, runs clean under ASan/UBSan and
    equals the numpy int8 reference byte for byte on calibration-like inputs
    and raw int8 rows (all -128, all 127, alternating, random bytes); a
    .tflite equals TFLM layer by layer (LiteRT where TFLM cannot run it or
    is the odd one out, mcugen.compare.DIVERGENT); a Keras model's float IR
    equals Keras' own prediction.
Anything else is a finding: a traceback, a hang (no answer within the time
limit), a valid file refused, a refusal for an unknown reason or too long,
a folder changed by a refused build, C that fails to compile, trips a
sanitizer or differs from the reference or from the oracle.

    python -m tests.fuzz --count 2000 [--seed 0] [--formats tflite,h5,keras,calib] [--jobs 2]

prints one line per finding and the counts per format; exit 0 iff no finding.
tests/test_fuzz.py runs a short campaign of the same cases in `make test`.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import multiprocessing as mp
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # refusal_reasons, in the spawned workers too

FORMATS = ("tflite", "h5", "keras", "calib")
CASE_TIMEOUT = 120  # seconds per case before it counts as a hang
CLI_EVERY = 8  # every k-th case also runs `mcugen build` through the CLI
N_TEST = 4  # calibration-like inputs run through the C of an accepted model (plus EDGE_ROWS)
EDGE_ROWS = 4  # raw int8 rows: all -128, all 127, alternating -128 / 127, random bytes
HARMLESS_RATE = 0.2  # share of the cases after the seeds that are harmless mutants
MAX_REFUSAL_CHARS = 500  # a refusal's length, the case's paths taken out
ODD_NAMES = ["harness", "probe", "stdint", "string", "main", "mcg_arch", "model", "in", "a b", "x" * 40]
INT_VALUES = [0, 1, -1, 2, 3, 7, 255, 256, 1000, -1000, 32767, 32768, 40000, 65535, 65536, 2**31 - 1, -(2**31),
              2**24, 127, 128, -128, -129]
FLOAT_VALUES = [0.0, -0.0, -1.0, 1e-45, 1e-38, 1e-30, 1e30, 3.4e38, -9.6e37, float("inf"), float("-inf"),
                float("nan"), 1e-10, 100.0, 2.0**-20]


# --- seeds ----------------------------------------------------------------
def make_seeds(folder: Path) -> dict[str, list[Path]]:
    """Small models of each format and calibration files, made from a
    seeded generator (TFLiteConverter makes the .tflite files)."""
    from mcugen.keras_loader import import_keras
    from mcugen.tflite_quantizer import convert_keras

    keras = import_keras()

    keras.utils.set_random_seed(0)
    L = keras.layers
    rng = np.random.default_rng(0)
    models = {}
    # Every layer named: Keras' automatic names count the layers made so far
    # in the process, and they are stored in the files, so without names the
    # seeds' bytes (and the byte-level mutations) would depend on which tests
    # ran first in the worker.
    inp = keras.Input((8, 8, 1), name="image")
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    x = L.MaxPooling2D(name="pool")(x)
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(max_value=6.0, name="relu6")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(6, activation="softmax", name="dense")(x)
    models["cnn"] = keras.Model(inp, x, name="cnn")
    inp = keras.Input((16, 2), name="signal")
    x = L.Conv1D(4, 3, padding="causal", activation="tanh", name="causal")(inp)
    y = L.Conv1D(4, 1, name="pointwise")(inp)
    x = L.Add(name="add")([x, y])
    x = L.AveragePooling1D(2, name="avg")(x)
    x = L.GlobalAveragePooling1D(name="gap")(x)
    x = L.Dense(3, activation="sigmoid", name="dense")(x)
    models["seq"] = keras.Model(inp, x, name="seq")
    inp = keras.Input((6, 6, 2), name="patch")
    pad = L.ZeroPadding2D(1, name="pad")(inp)
    a = L.Conv2D(3, 2, strides=2, name="conv")(pad)
    b = L.SeparableConv2D(3, 3, padding="same", strides=2, name="sep")(pad)
    x = L.Concatenate(name="concat")([a, b])
    x = L.GlobalMaxPooling2D(name="gmp")(x)
    x = L.Dense(4, name="dense")(x)
    x = L.LeakyReLU(0.1, name="leaky")(x)
    models["branch"] = keras.Model(inp, x, name="branch")
    seeds: dict[str, list[Path]] = {f: [] for f in FORMATS}
    for name, m in models.items():
        for layer in m.layers:
            w = layer.get_weights()
            if isinstance(layer, L.BatchNormalization):  # gamma, beta, mean, and a positive variance
                n = w[0].shape[0]
                layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n),
                                   rng.uniform(0.5, 1.5, n)])
            elif w:
                layer.set_weights([rng.normal(0, 0.3, v.shape).astype(np.float32) if v.ndim == 1 else v for v in w])
        shape = tuple(m.inputs[0].shape[1:])
        calib = rng.uniform(-1, 1, (16,) + shape).astype(np.float32)
        m.save(folder / f"{name}.h5")
        m.save(folder / f"{name}.keras")
        (folder / f"{name}.tflite").write_bytes(convert_keras(m, calib))
        np.savez(folder / f"{name}_calib.npz", x=calib)
        np.save(folder / f"{name}_calib.npy", calib)
        seeds["h5"].append(folder / f"{name}.h5")
        seeds["keras"].append(folder / f"{name}.keras")
        seeds["tflite"].append(folder / f"{name}.tflite")
        seeds["calib"] += [folder / f"{name}_calib.npz", folder / f"{name}_calib.npy"]
    return seeds


# --- mutations ------------------------------------------------------------
def mutate_bytes(data: bytes, rng) -> bytes:
    b = bytearray(data)
    kind = rng.integers(0, 5)
    if kind == 0 and len(b) > 8:  # truncate
        return bytes(b[: rng.integers(0, len(b))])
    if kind == 1 and len(b) > 8:  # a 32-bit word becomes an interesting value
        pos = int(rng.integers(0, len(b) - 4)) & ~3
        v = int(rng.choice(INT_VALUES)) & 0xFFFFFFFF
        b[pos : pos + 4] = v.to_bytes(4, "little")
        return bytes(b)
    if kind == 2 and len(b) > 8:  # a float32 becomes an interesting value
        pos = int(rng.integers(0, len(b) - 4)) & ~3
        b[pos : pos + 4] = np.float32(rng.choice(FLOAT_VALUES)).tobytes()
        return bytes(b)
    if kind == 3 and len(b) > 8:  # a range duplicated or removed
        a = int(rng.integers(0, len(b)))
        n = int(rng.integers(1, 64))
        return bytes(b[:a] + b[a : a + n] * int(rng.integers(0, 3)) + b[a + n :])
    for _ in range(int(rng.integers(1, 9))):  # random bytes
        if b:
            b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
    return bytes(b)


def _fields(obj, path=()):
    """(parent, key, value) of every mutable leaf of a flatbuffers object tree."""
    items = []
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            if isinstance(v, (int, float, np.integer, np.floating)):
                items.append((obj, i, v))
            else:
                items += _fields(v, path + (i,))
        return items
    if not hasattr(obj, "__dict__"):
        return items
    for k, v in vars(obj).items():
        if v is None:
            continue
        if isinstance(v, (bool, int, float, np.integer, np.floating)):
            items.append((obj, k, v))
        elif isinstance(v, np.ndarray):
            items.append((obj, k, v))
        elif isinstance(v, (list, bytes, str)) or hasattr(v, "__dict__"):
            if isinstance(v, (bytes, str)):
                items.append((obj, k, v))
            else:
                items += _fields(v, path + (k,))
    return items


def _set(parent, key, value):
    if isinstance(parent, list):
        parent[key] = value
    else:
        setattr(parent, key, value)


def _get(parent, key):
    return parent[key] if isinstance(parent, list) else getattr(parent, key)


def mutate_tflite(data: bytes, rng) -> bytes:
    if rng.random() < 0.25:
        return mutate_bytes(data, rng)
    import flatbuffers

    from mcugen.tflite.reader import schema

    S = schema()
    m = S.ModelT.InitFromPackedBuf(bytearray(data), 0)
    for _ in range(int(rng.integers(1, 3))):
        sg = m.subgraphs[0]
        kind = rng.integers(0, 10)
        if kind == 0 and sg.operators:  # options of another op type
            op = sg.operators[int(rng.integers(0, len(sg.operators)))]
            other = sg.operators[int(rng.integers(0, len(sg.operators)))]
            op.builtinOptionsType, op.builtinOptions = other.builtinOptionsType, copy.deepcopy(other.builtinOptions)
            continue
        if kind == 1 and len(sg.operators) > 1:  # operators reordered (graph order, cycles)
            i, j = rng.choice(len(sg.operators), 2, replace=False)
            sg.operators[i], sg.operators[j] = sg.operators[j], sg.operators[i]
            continue
        if kind == 2 and sg.operators:  # an operator's input or output rewired
            op = sg.operators[int(rng.integers(0, len(sg.operators)))]
            lst = op.inputs if rng.random() < 0.6 or op.outputs is None else op.outputs
            if lst is not None and len(lst):
                lst = list(lst)
                lst[int(rng.integers(0, len(lst)))] = int(rng.integers(-2, len(sg.tensors) + 2))
                if lst is not None:
                    if rng.random() < 0.5:
                        op.inputs = lst
                    else:
                        op.outputs = lst
            continue
        if kind == 3 and sg.tensors:  # a quantization parameter
            t = sg.tensors[int(rng.integers(0, len(sg.tensors)))]
            q = t.quantization
            if q is not None and q.scale is not None and len(q.scale):
                if rng.random() < 0.5:
                    q.scale = list(q.scale)
                    q.scale[int(rng.integers(0, len(q.scale)))] = float(rng.choice(FLOAT_VALUES))
                elif q.zeroPoint is not None and len(q.zeroPoint):
                    q.zeroPoint = list(q.zeroPoint)
                    q.zeroPoint[int(rng.integers(0, len(q.zeroPoint)))] = int(rng.choice(INT_VALUES))
                else:
                    q.quantizedDimension = int(rng.choice(INT_VALUES))
            continue
        if kind == 4 and sg.tensors:  # a dimension
            t = sg.tensors[int(rng.integers(0, len(sg.tensors)))]
            if t.shape is not None and len(t.shape):
                shape = list(t.shape)
                shape[int(rng.integers(0, len(shape)))] = int(rng.choice(INT_VALUES))
                t.shape = shape
            continue
        if kind == 5 and m.buffers:  # constant data
            bufs = [b for b in m.buffers if b.data is not None and len(b.data)]
            if bufs:
                b = bufs[int(rng.integers(0, len(bufs)))]
                arr = np.array(b.data, dtype=np.uint8)
                if rng.random() < 0.7 and arr.size >= 4:
                    pos = int(rng.integers(0, arr.size - 3)) & ~3
                    arr[pos : pos + 4] = np.frombuffer(
                        (int(rng.choice(INT_VALUES)) & 0xFFFFFFFF).to_bytes(4, "little"), np.uint8)
                else:
                    arr = arr[: int(rng.integers(0, arr.size + 1))]
                b.data = arr
            continue
        leaves = [f for f in _fields(m) if not isinstance(f[2], (bytes, str))]
        if not leaves:
            continue
        parent, key, v = leaves[int(rng.integers(0, len(leaves)))]
        if isinstance(v, np.ndarray):
            if v.size:
                v = v.copy()
                v.reshape(-1)[int(rng.integers(0, v.size))] = rng.choice(
                    FLOAT_VALUES if v.dtype.kind == "f" else [x for x in INT_VALUES if np.can_cast(
                        np.min_scalar_type(x), v.dtype)] or [0])
                _set(parent, key, v)
        elif isinstance(v, float):
            _set(parent, key, float(rng.choice(FLOAT_VALUES)))
        elif isinstance(v, bool):
            _set(parent, key, not v)
        else:
            _set(parent, key, int(rng.choice(INT_VALUES)))
    if rng.random() < 0.1 and m.subgraphs[0].tensors:  # odd tensor names
        t = m.subgraphs[0].tensors[int(rng.integers(0, len(m.subgraphs[0].tensors)))]
        t.name = bytes(rng.choice([b"*/ /* x", b"\xff\xfe bad utf8", b"a\nb", b"%s%n", b"x" * 5000, b""]))
    b = flatbuffers.Builder(0)
    try:
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
    except Exception:  # a mutation the packer cannot encode (an int beyond its field)
        return mutate_bytes(data, rng)
    return bytes(b.Output())


def _json_leaves(obj, path=()):
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((obj, k))
            out += _json_leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((obj, i))
            out += _json_leaves(v, path + (i,))
    return out


JSON_VALUES = [0, -1, 1, 2, 40000, 2**31, 10**12, -(10**9), 1e30, float("nan"), 0.5, "same", "valid", "causal",
               "bogus", "relu", "channels_first", None, [], {}, True, False, [0, 0], [40000, 1], [-1, 3], "x" * 300]
CLASSES = ["Conv2D", "Dense", "Lambda", "Conv3D", "MaxPooling2D", "Reshape", "Softmax", "Add", "Flatten",
           "BatchNormalization", "UpSampling2D", "Dropout", "Activation"]


def mutate_config(cfg: dict, rng) -> dict:
    cfg = copy.deepcopy(cfg)
    leaves = _json_leaves(cfg)
    for _ in range(int(rng.integers(1, 3))):
        parent, key = leaves[int(rng.integers(0, len(leaves)))]
        r = rng.random()
        if r < 0.1 and isinstance(parent, dict):
            del parent[key]
            leaves = _json_leaves(cfg)
        elif r < 0.2 and key == "class_name":
            parent[key] = str(rng.choice(CLASSES))
        else:
            v = JSON_VALUES[int(rng.integers(0, len(JSON_VALUES)))]
            parent[key] = copy.deepcopy(v)
            leaves = _json_leaves(cfg)
    return cfg


def mutate_weights_h5(f, rng, root: str = "/") -> None:
    """Change one value or the shape of one weight array in an open h5py file."""
    import h5py

    dsets = []
    f[root].visititems(lambda n, o: dsets.append(n) if isinstance(o, h5py.Dataset) and o.dtype.kind == "f" else None)
    if not dsets:
        return
    name = dsets[int(rng.integers(0, len(dsets)))]
    ds = f[root][name]
    arr = np.array(ds)
    if rng.random() < 0.8 and arr.size:
        arr.reshape(-1)[int(rng.integers(0, arr.size))] = rng.choice(FLOAT_VALUES)
        ds[...] = arr
    else:
        del f[root][name]
        shape = tuple(int(max(0, d + rng.integers(-1, 2))) for d in arr.shape) or (2,)
        f[root].create_dataset(name, data=np.zeros(shape, arr.dtype))


def mutate_h5(path: Path, out: Path, rng) -> None:
    import h5py

    if rng.random() < 0.15:
        out.write_bytes(mutate_bytes(path.read_bytes(), rng))
        return
    shutil.copy(path, out)
    with h5py.File(out, "r+") as f:
        if rng.random() < 0.6:
            cfg = json.loads(f.attrs["model_config"])
            f.attrs["model_config"] = json.dumps(mutate_config(cfg, rng))
        else:
            mutate_weights_h5(f, rng, "model_weights")


def mutate_keras(path: Path, out: Path, rng) -> None:
    import h5py

    if rng.random() < 0.15:
        out.write_bytes(mutate_bytes(path.read_bytes(), rng))
        return
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    r = rng.random()
    if r < 0.55:
        files["config.json"] = json.dumps(mutate_config(json.loads(files["config.json"]), rng)).encode()
    elif r < 0.9:
        with tempfile.NamedTemporaryFile(suffix=".h5") as tmp:
            Path(tmp.name).write_bytes(files["model.weights.h5"])
            with h5py.File(tmp.name, "r+") as f:
                mutate_weights_h5(f, rng)
            files["model.weights.h5"] = Path(tmp.name).read_bytes()
    else:
        victim = str(rng.choice(sorted(files)))
        files[victim] = mutate_bytes(files[victim], rng)
    with zipfile.ZipFile(out, "w") as z:
        for n, d in files.items():
            z.writestr(n, d)


def save_calibration(out: Path, arr: np.ndarray, rng) -> Path:
    """Calibration samples written as .npz (under 'x') or .npy, chosen at random."""
    out = out.with_suffix(str(rng.choice([".npz", ".npy"])))
    if out.suffix == ".npz":
        np.savez(out, x=arr)
    else:
        np.save(out, arr)
    return out


def mutate_calib(path: Path, out: Path, rng) -> Path:
    """A mutated calibration file (its suffix may change)."""
    arr = np.load(path)["x"] if path.suffix == ".npz" else np.load(path)
    kind = rng.integers(0, 9)
    if kind == 0:
        out.write_bytes(mutate_bytes(path.read_bytes(), rng))
        return out
    if kind == 1:  # values
        a = arr.copy()
        idx = rng.integers(0, a.size, int(rng.integers(1, 4)))
        a.reshape(-1)[idx] = rng.choice(FLOAT_VALUES)
        arr = a
    elif kind == 2:  # shape
        arr = arr.reshape(-1)[: int(rng.integers(0, arr.size))] if rng.random() < 0.5 else arr[..., None]
    elif kind == 3:  # dtype
        arr = arr.astype(rng.choice([np.float16, np.float64, np.int8, np.uint8, np.int64, np.bool_, np.complex64]))
    elif kind == 4:  # .npy header declaring another shape (a resource bomb when huge)
        buf = io.BytesIO()
        np.save(buf, arr)
        raw = buf.getvalue()
        shape_txt = repr(tuple(arr.shape)).encode()
        fake = repr((int(rng.choice([10**9, 2**40, 0, 1, 3])),) + tuple(arr.shape[1:])).encode()
        header_len = int.from_bytes(raw[8:10], "little")
        header = raw[10 : 10 + header_len].replace(shape_txt, fake)
        header = header.rstrip(b"\n").rstrip(b" ")
        pad = (64 - (10 + len(header) + 1) % 64) % 64
        header = header + b" " * pad + b"\n"
        out = out.with_suffix(".npy")
        out.write_bytes(raw[:8] + len(header).to_bytes(2, "little") + header + raw[10 + header_len :])
        return out
    elif kind == 5:  # wrong names, several arrays, an object array
        out = out.with_suffix(".npz")
        choice = rng.integers(0, 3)
        if choice == 0:
            np.savez(out, y=arr, z=arr)
        elif choice == 1:
            np.savez(out, arr)
        else:
            np.savez(out, x=np.array([arr, "s"], dtype=object))
        return out
    elif kind == 6:  # many samples (bounded here; the cap is what is tested)
        arr = np.repeat(arr, int(rng.integers(2, 64)), axis=0)
    elif kind == 7:
        arr = arr[:0] if rng.random() < 0.5 else arr[:1]
    elif kind == 8:
        arr = arr * np.float32(rng.choice([1e30, 1e-30, 0.0, -1.0, 1e4]))
    return save_calibration(out, arr, rng)


def harmless_tflite(data: bytes, rng) -> bytes:
    """The same model with tensors renamed (C comment marks, bad UTF-8, empty,
    5,000 characters ...), a new description, repacked: it must still load."""
    import flatbuffers

    from mcugen.tflite.reader import schema

    S = schema()
    m = S.ModelT.InitFromPackedBuf(bytearray(data), 0)
    names = [b"*/ /* x", b"\xff\xfe bad utf8", b"a\nb", b"%s%n", b"x" * 5000, b"", b"conv2d", b"main", b"int"]
    for t in m.subgraphs[0].tensors:
        if rng.random() < 0.5:
            t.name = bytes(names[int(rng.integers(0, len(names)))])
    if rng.random() < 0.5:
        m.description = b"renamed by tests/fuzz.py"
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def harmless_keras(path: Path, out: Path, rng) -> None:
    """The same .keras zip, entries in another order and compressed otherwise."""
    with zipfile.ZipFile(path) as z:
        files = [(n, z.read(n)) for n in z.namelist()]
    if rng.random() < 0.5:
        files.reverse()
    method = zipfile.ZIP_STORED if rng.random() < 0.5 else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", compression=method) as z:
        for n, d in files:
            z.writestr(n, d)


def harmless_calib(path: Path, out: Path, rng) -> Path:
    """The same samples in float64, as .npy or .npz, fewer of them, or
    narrower (half the range: the test inputs of the C then reach past it)."""
    arr = np.load(path)["x"] if path.suffix == ".npz" else np.load(path)
    kind = int(rng.integers(0, 4))
    if kind == 0:
        arr = arr.astype(np.float64)
    elif kind == 1:
        arr = arr[: int(rng.integers(1, len(arr) + 1))]
    elif kind == 2:
        arr = arr * np.float32(0.5)
    return save_calibration(out, arr, rng)


def make_case(fmt: str, seed: int, index: int, seeds: dict[str, list[Path]], folder: Path):
    """(model path, calib path or None, class) of case `index`, written into
    folder; class is "seed" (the first cases: each seed as it is), "harmless"
    or "mutant"."""
    rng = np.random.default_rng([seed, FORMATS.index(fmt), index])
    folder.mkdir(parents=True, exist_ok=True)
    n_seeds = len(seeds[fmt])
    klass = "seed" if index < n_seeds else "harmless" if rng.random() < HARMLESS_RATE else "mutant"
    if fmt == "calib":
        if klass == "seed":
            src = seeds["calib"][index]
            stem = src.stem.rsplit("_calib", 1)[0]
            model = next(p for p in seeds["h5"] if p.stem == stem)
            out = folder / src.name
            shutil.copy(src, out)
            return model, out, klass
        model = seeds["h5"][int(rng.integers(0, len(seeds["h5"])))] if rng.random() < 0.8 else \
            seeds["tflite"][int(rng.integers(0, len(seeds["tflite"])))]
        stem = model.stem
        src = [p for p in seeds["calib"] if p.stem.startswith(stem + "_")][int(rng.integers(0, 2))]
        if klass == "harmless":
            return model, harmless_calib(src, folder / "calib.npz", rng), klass
        return model, mutate_calib(src, folder / f"calib{src.suffix}", rng), klass
    src = seeds[fmt][index] if klass == "seed" else seeds[fmt][int(rng.integers(0, len(seeds[fmt])))]
    name = src.stem if klass == "seed" else str(rng.choice([src.stem, src.stem, src.stem] + ODD_NAMES))
    out = folder / f"{name}.{fmt}"
    calib = next(p for p in seeds["calib"] if p.name == f"{src.stem}_calib.npz")
    with_calib = calib if klass == "seed" or rng.random() < 0.5 else None
    if klass == "seed":
        shutil.copy(src, out)
        return out, (calib if fmt != "tflite" else with_calib), klass
    if fmt == "tflite":
        data = src.read_bytes()
        out.write_bytes(harmless_tflite(data, rng) if klass == "harmless" else mutate_tflite(data, rng))
        return out, with_calib, klass
    if klass == "harmless":
        if fmt == "keras":
            harmless_keras(src, out, rng)
        else:
            shutil.copy(src, out)  # an .h5 called harness.h5, main.h5 ...
        return out, calib, klass
    (mutate_h5 if fmt == "h5" else mutate_keras)(src, out, rng)
    return out, calib, klass


# --- running one case -----------------------------------------------------
def _one_line(msg: str) -> bool:
    return bool(msg.strip()) and "\n" not in msg and "\r" not in msg


def judge_refusal(msg: str, paths) -> tuple[str, str]:
    """('refused', reason name) or the finding a refusal message makes."""
    from refusal_reasons import reason_of

    if not _one_line(msg):
        return "not-one-line", msg[:800]
    bare = msg
    for path in paths:
        if path is not None:
            bare = bare.replace(str(path), "<file>").replace(Path(path).name, "<file>")
    # The list of what is supported grows with the project: not counted.
    bare = re.sub(r"; supported: [\w ,./-]+$", "; supported: ...", bare)
    if len(bare) > MAX_REFUSAL_CHARS:
        return "refused-too-long", f"{len(bare)} characters: {msg[:600]}"
    reason = reason_of(bare)
    if reason is None:
        return "refused-unknown-reason", msg[:600]
    return "refused", f"{reason}\t{bare}"


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every file and folder below `folder`: kind, size, modification time, content hash."""
    out = {}
    for q in sorted(folder.rglob("*")):
        st = q.lstat()
        digest = hashlib.sha256(q.read_bytes()).hexdigest() if q.is_file() and not q.is_symlink() else ""
        out[str(q.relative_to(folder))] = (q.is_dir(), st.st_size, st.st_mtime_ns, digest)
    return out


def edge_rows(shape, rng) -> np.ndarray:
    """Raw int8 rows no calibration-like input gives: all -128, all 127,
    alternating -128 / 127, random bytes."""
    n = int(np.prod(shape))
    alt = np.where(np.arange(n) % 2 == 0, -128, 127)
    rows = [np.full(n, -128), np.full(n, 127), alt, rng.integers(-128, 128, n)]
    return np.stack(rows)[:EDGE_ROWS].reshape((EDGE_ROWS,) + tuple(shape)).astype(np.int8)


def oracle_finding(tm, g, xq) -> tuple[str, str] | None:
    """None when every layer of mcugen's graph equals TFLM's, run on TFLM's own
    inputs to it (LiteRT's where TFLM cannot run the file, or on the ops
    where the two are known to differ: mcugen.compare.DIVERGENT), else the
    finding. Both unable to run a file mcugen accepted is a finding too."""
    from mcugen.compare import DIVERGENT
    from mcugen.errors import McugenError
    from mcugen.oracles import run_oracle

    indices = sorted({tm.tensor_index[t] for t in tm.tensor_index if t in g.tensors})
    runs, why = {}, {}
    for name in ("tflm", "litert"):
        try:
            runs[name] = run_oracle(name, tm, xq, tensors=indices)
        except McugenError as e:
            why[name] = str(e)
    if not runs:
        return "accepted-but-no-oracle-runs", f"TFLM: {why['tflm']}; LiteRT: {why['litert']}"
    local: dict[str, dict[str, bool]] = {}
    for name, run in runs.items():
        vals, same = dict(zip(g.inputs, g.input_arrays(xq))), {}
        for op in g.ops:
            y = op.forward_int(g, [vals[t] for t in op.inputs])
            out = op.outputs[0]
            if out in tm.tensor_index:
                theirs = run.tensors[tm.tensor_index[out]].reshape(y.shape).astype(np.int8)
                same[op.name] = bool(np.array_equal(y, theirs))
                vals[out] = theirs
            else:
                vals[out] = y
        local[name] = same
    for op in g.ops:
        opname = tm.op_info.get(op.name, (-1, op.kind))[1]
        for name in runs:
            if local[name].get(op.name, True):
                continue
            mate = "litert" if name == "tflm" else "tflm"
            # A known divergence: the other oracle must agree, or (TFLM unable
            # to run the file) there is no exact oracle for this op.
            if opname in DIVERGENT[name] and local.get(mate, {}).get(op.name, mate not in runs):
                continue
            return f"accepted-but-differs-from-{name}", f"layer {op.name} ({opname})"
    return None


def float_finding(p, x) -> tuple[str, str] | None:
    """A Keras model's float IR against Keras' prediction: a misread option
    (padding, stride, activation ...) shows here, where int8 C and the int8
    reference would agree with each other."""
    from mcugen.reference import run_float

    vals = run_float(p.graph, x)
    try:
        wants = p.reference_predict(x)
    except Exception:  # Keras cannot run the mutated model (a mask, a dtype ...): no float reference
        return None
    for want, t in zip(wants, p.graph.outputs):
        want = np.asarray(want, dtype=np.float64)
        if not np.all(np.isfinite(want)) or np.abs(want).max() > 1e6:
            return None  # extreme weights: no float reference worth holding against
        got = vals[t].reshape(want.shape)
        err = np.abs(got - want).max() / (1.0 + np.abs(want).max())
        if err > 1e-4:
            return "accepted-but-float-differs-from-keras", f"relative error {err:.3g}"
    return None


def check_accepted(p, cache: dict, rng=None) -> tuple[str, str]:
    """Compile and run the accepted model's C; ('ok'|finding kind, detail)."""
    from mcugen.check import test_samples
    from mcugen.emit import render
    from mcugen.errors import McugenError
    from mcugen.host import run_host
    from mcugen.reference import run_int8

    g = p.graph
    cm = render(g, source=p.path.name)
    xs = test_samples(p, N_TEST)
    rng = rng or np.random.default_rng(0)
    xq = [np.concatenate([q, edge_rows(t.shape, rng)]) for q, t in zip(g.quantize_inputs(xs), g.input_tensors)]
    tfl = p.tflite.model_bytes if p.tflite is not None else b""
    key = hashlib.sha256(cm.source.encode() + cm.header.encode() + b"".join(x.tobytes() for x in xq) + tfl
                         ).hexdigest()
    if key in cache:
        return cache[key]
    ref = run_int8(g, xq)
    try:
        host = run_host(g, cm, xq, sanitize=True)
    except McugenError as e:
        res = ("accepted-but-broken-C", str(e)[:600])
    else:
        bad = next((op.name for op, got in zip(g.ops, host.layers) if not np.array_equal(got, ref[op.outputs[0]])), None)
        if bad is not None or not all(np.array_equal(got, ref[t]) for got, t in zip(host.all_outputs, g.outputs)):
            res = ("accepted-but-differs", f"first at layer {bad}")
        elif p.tflite is not None:
            res = oracle_finding(p.tflite, g, xq) or ("ok", "")
        elif p.keras_model is not None:
            res = float_finding(p, xs) or ("ok", "")
        else:
            res = ("ok", "")
    cache[key] = res
    return res


def run_cli_build(model: Path, calib: Path | None, folder: Path) -> tuple[str, str]:
    """`mcugen build` in process, run from inside the case folder; a refusal
    must leave the folder as it was, a success add the project only."""
    from click.testing import CliRunner

    from mcugen.cli import main

    out = folder / "proj"
    args = ["build", str(model), "--board", "uno", "-o", str(out)] + (["--calib", str(calib)] if calib else [])
    before = snapshot(folder)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        r = CliRunner().invoke(main, args, catch_exceptions=True)
    finally:
        os.chdir(cwd)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        return "traceback", "".join(traceback.format_exception(r.exception))[-1500:]
    after = snapshot(folder)
    if r.exit_code != 0:
        err = r.stderr if hasattr(r, "stderr") else r.output
        lines = [ln for ln in err.splitlines() if ln.strip()]
        if after != before:
            changed = sorted(set(after) ^ set(before) | {k for k in after if k in before and after[k] != before[k]})
            return "half-written", f"exit {r.exit_code} changed {changed[:5]}"
        errs = [ln for ln in lines if ln.startswith("mcugen: error:")]
        if len(errs) != 1 or any(ln.startswith("Traceback") for ln in lines):
            return "not-one-line", err[-800:]
        return judge_refusal(errs[0].removeprefix("mcugen: error: "), (model, calib, out))
    extra = {k for k in set(after) - set(before) if k != "proj" and not k.startswith("proj/")}
    changed = {k for k in before if after.get(k) != before[k]}
    if extra or changed or not (out / ".mcugen-project").is_file():
        return "half-written", f"exit 0: {out} incomplete, or wrote {sorted(extra | changed)[:5]}"
    return "ok", ""


def run_case(fmt: str, seed: int, index: int, seeds, work: Path, cache: dict) -> tuple[str, str, str]:
    """(outcome kind, detail, case class)."""
    folder = work / f"{fmt}-{index}"
    shutil.rmtree(folder, ignore_errors=True)
    try:
        model, calib, klass = make_case(fmt, seed, index, seeds, folder)
    except Exception as e:  # a mutation the generator cannot write: not mcugen's
        return "skipped", repr(e)[:200], "mutant"
    try:
        kind, detail = _run_case(model, calib, folder, index, cache, np.random.default_rng([seed, index]))
        if klass != "mutant" and kind != "ok":
            return ("refused-valid" if kind == "refused" else kind), detail, klass
        return kind, detail, klass
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_case(model, calib, folder, index, cache, rng) -> tuple[str, str]:
    from mcugen.errors import McugenError
    from mcugen.pipeline import prepare

    if index % CLI_EVERY == 0:
        kind, detail = run_cli_build(model, calib, folder)
        if kind not in ("ok", "refused"):
            return kind, detail
    before = snapshot(folder)
    try:
        p = prepare(model, calib, warn=lambda m: None)
    except McugenError as e:
        if snapshot(folder) != before:
            return "half-written", "prepare() changed the model's folder"
        return judge_refusal(str(e), (model, calib))
    except Exception:
        return "traceback", traceback.format_exc()[-1500:]
    try:
        return check_accepted(p, cache, rng)
    except McugenError as e:
        return "accepted-but-broken-C", str(e)[:600]
    except Exception:
        return "traceback", traceback.format_exc()[-1500:]


def _worker(conn, seeds, work):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.simplefilter("ignore")
    from mcugen.keras_loader import import_keras

    import_keras()
    import ai_edge_litert.interpreter  # noqa: F401 (the oracles, imported once per worker)
    from tflite_micro.python.tflite_micro import runtime  # noqa: F401

    cache: dict = {}
    while True:
        task = conn.recv()
        if task is None:
            return
        fmt, seed, index = task
        try:
            res = run_case(fmt, seed, index, seeds, Path(work), cache)
        except BaseException:
            res = ("traceback", traceback.format_exc()[-1500:], "?")
        conn.send(res)


class Worker:
    def __init__(self, ctx, seeds, work):
        self.ctx, self.seeds, self.work = ctx, seeds, work
        self.start()

    def start(self):
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child, self.seeds, self.work), daemon=True)
        self.proc.start()
        self.task, self.t0 = None, 0.0

    def submit(self, task):
        self.task, self.t0 = task, time.monotonic()
        self.conn.send(task)

    def kill(self):
        self.proc.kill()
        self.proc.join()


def campaign(count: int, seed: int = 0, formats=FORMATS, jobs: int = 2, work: Path | None = None,
             log=print, seeds: dict | None = None) -> dict:
    """Run `count` cases of each format; returns {"counts": {fmt: Counter of outcomes},
    "classes": {fmt: Counter of "class outcome"}, "findings": [(fmt, index, kind, detail)],
    "reasons": Counter of refusal reasons, "examples": {reason: one refusal message}}."""
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="mcugen-fuzz-")) if own else Path(work)
    try:
        if seeds is None:
            seeds = make_seeds(_mkdir(work / "seeds"))
        ctx = mp.get_context("spawn")
        tasks = [(f, seed, i) for i in range(count) for f in formats]
        workers = [Worker(ctx, seeds, str(work)) for _ in range(max(1, jobs))]
        counts = {f: Counter() for f in formats}
        classes = {f: Counter() for f in formats}
        reasons: Counter = Counter()
        examples: dict[str, str] = {}
        findings = []
        pending = list(reversed(tasks))
        done = 0
        t_start = time.monotonic()
        while pending or any(w.task for w in workers):
            for w in workers:
                if w.task is None and pending:
                    w.submit(pending.pop())
            ready = mp.connection.wait([w.conn for w in workers if w.task], timeout=1.0)
            for w in workers:
                if w.task is None:
                    continue
                res = None
                if w.conn in ready:
                    try:
                        res = w.conn.recv()
                    except EOFError:
                        res = ("crash", f"worker died (exit {w.proc.exitcode})", "?")
                elif time.monotonic() - w.t0 > CASE_TIMEOUT + (60 if w.t0 and done < len(workers) else 0):
                    res = ("hang", f"no answer within {CASE_TIMEOUT} s", "?")
                if res is None:
                    continue
                fmt, _, index = w.task
                kind, detail, klass = res
                counts[fmt][kind] += 1
                classes[fmt][f"{klass} {kind}"] += 1
                done += 1
                if kind == "refused":
                    reason, _, message = detail.partition("\t")
                    reasons[reason] += 1
                    examples.setdefault(reason, message)
                if kind not in ("ok", "refused", "skipped"):
                    findings.append((fmt, index, kind, detail))
                    log(f"FINDING {fmt} #{index}: {kind}: {detail.strip().splitlines()[-1] if detail.strip() else ''}")
                if done % 200 == 0:
                    log(f"{done}/{len(tasks)} cases, {len(findings)} findings, {time.monotonic() - t_start:.0f} s")
                if kind in ("hang", "crash"):
                    w.kill()
                    w.start()
                else:
                    w.task = None
        for w in workers:
            w.conn.send(None)
            w.proc.join(timeout=10)
            if w.proc.is_alive():
                w.kill()
        return {"counts": counts, "classes": classes, "findings": findings, "reasons": reasons,
                "examples": examples}
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2000, help="cases per format")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--findings", type=Path, help="write every finding's detail to this JSON file")
    a = ap.parse_args(argv)
    formats = tuple(f for f in a.formats.split(",") if f)
    t0 = time.monotonic()
    r = campaign(a.count, a.seed, formats, a.jobs)
    print(f"seed {a.seed}, {a.count} cases per format, {time.monotonic() - t0:.0f} s")
    for f, c in r["counts"].items():
        print(f"{f:7s} " + ", ".join(f"{k}: {v}" for k, v in sorted(c.items())))
    print(f"findings: {len(r['findings'])}")
    for f, c in r["classes"].items():
        print(f"{f:7s} " + ", ".join(f"{k}: {v}" for k, v in sorted(c.items()) if not k.startswith("mutant")))
    print("refusals by reason (tests/refusal_reasons.py), with one message each:")
    for reason, k in r["reasons"].most_common():
        print(f"  {k:5d}  {reason}: {r['examples'][reason][:150]}")
    if a.findings:
        a.findings.write_text(json.dumps(r["findings"], indent=1))
    return 0 if not r["findings"] else 1


if __name__ == "__main__":
    sys.exit(main())
