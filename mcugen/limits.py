"""What mcugen accepts before it allocates or generates anything: input
files (regular files of bounded size), names and output paths, and the
ranges of every dimension, size and quantization parameter the C kernels can
represent.

The kernels take spatial dimensions, channels, kernel sizes, strides and
paddings as int16_t (templates/kernels/*.c.j2), so every such value, and
every index they compute from them (``oy * stride - pad + k``), must stay
within 32,767. Quantization parameters must be what TFLite's int8 scheme
allows: finite positive scales, zero points of int8 tensors in [-128, 127].
"""
from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import numpy as np

from .errors import McugenError

MAX_DIM = 32767  # int16_t dimensions in the kernels
MAX_TENSOR_BYTES = 1 << 22  # 4 MiB: no microcontroller holds a larger activation
MAX_CONSTANT_BYTES = 1 << 26  # 64 MiB of weights, tables and biases in all
MAX_MODEL_FILE_BYTES = 1 << 28  # 256 MiB
MAX_DATA_FILE_BYTES = 1 << 30  # 1 GiB of calibration or test data (read in part at most)
MAX_NAME_BYTES = 255  # one path component (Linux NAME_MAX)
MAX_PATH_BYTES = 4095


def _fsname(p: Path) -> bytes:
    return os.fsencode(str(p))


def shown(p) -> str:
    """A path or name as one printable line (odd bytes and controls escaped)."""
    s = os.fsdecode(p) if isinstance(p, bytes) else str(p)
    s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


def check_path_name(path: Path, what: str) -> None:
    """One line for a path no file system takes: a NUL byte, a component over
    255 bytes, a whole path over 4,095 bytes."""
    raw = _fsname(path)
    if b"\0" in raw:
        raise McugenError(f"{what} {shown(path)}: holds a NUL byte")
    if len(raw) > MAX_PATH_BYTES:
        raise McugenError(f"{what} {shown(path)[:80]}...: the path is {len(raw):,} bytes long "
                          f"(at most {MAX_PATH_BYTES:,})")
    for part in raw.split(b"/"):
        if len(part) > MAX_NAME_BYTES:
            raise McugenError(f"{what} {shown(path)[:80]}...: the name {shown(part)[:40]}... is {len(part):,} "
                              f"bytes long (a file system allows {MAX_NAME_BYTES})")


def check_input_file(path: Path, what: str, max_bytes: int = MAX_MODEL_FILE_BYTES) -> int:
    """A file mcugen is about to read: it exists, is a regular file (a FIFO, a
    device such as /dev/zero or a link to one would block or never end) and
    is at most max_bytes long. Returns its size."""
    path = Path(path)
    check_path_name(path, what)
    try:
        st = os.stat(path)  # follows links: a link to /dev/zero is a device
    except FileNotFoundError:
        raise McugenError(f"{what} not found: {shown(path)}") from None
    except OSError as e:
        raise McugenError(f"{what} {shown(path)}: cannot be read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise McugenError(f"{what} {shown(path)}: is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or
                stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise McugenError(f"{what} {shown(path)}: is {kind}; mcugen reads regular files only")
    if st.st_size > max_bytes:
        raise McugenError(f"{what} {shown(path)}: {st.st_size:,} bytes, more than the {max_bytes:,} mcugen reads")
    if not os.access(path, os.R_OK):
        raise McugenError(f"{what} {shown(path)}: cannot be read (permission denied)")
    return int(st.st_size)


def read_input_file(path: Path, what: str, max_bytes: int = MAX_MODEL_FILE_BYTES) -> bytes:
    size = check_input_file(path, what, max_bytes)
    try:
        with open(path, "rb") as f:
            data = f.read(size + 1)
    except OSError as e:
        raise McugenError(f"{what} {shown(path)}: cannot be read ({e.strerror})") from None
    if len(data) > size:
        raise McugenError(f"{what} {shown(path)}: grew while it was read")
    return data


# --- quantization parameters and dimensions ---------------------------------
def check_scale(scale, where: str) -> None:
    s = float(scale)
    if not math.isfinite(s) or s <= 0.0 or not np.isfinite(np.float32(s)) or np.float32(s) <= 0:
        raise McugenError(f"{where}: scale {s!r} (a finite positive float32 is required)")
    if s < 1e-30 or s > 1e30:
        raise McugenError(f"{where}: scale {s!r} is outside [1e-30, 1e30]")


def check_int8_zero_point(zp, where: str, dtype: str = "int8") -> None:
    lo, hi = (-32768, 32767) if dtype == "int16" else (-128, 127)
    if not lo <= int(zp) <= hi:
        raise McugenError(f"{where}: zero point {int(zp)} (an {dtype} tensor's must be in [{lo}, {hi}])")


def check_shape(shape, where: str) -> None:
    """Every dimension in [1, 32767] and the tensor at most 4 MiB of int8."""
    dims = [int(d) for d in shape]
    for d in dims:
        if d < 1:
            raise McugenError(f"{where}: dimension {d} in shape {tuple(dims)} (every dimension must be >= 1)")
        if d > MAX_DIM:
            raise McugenError(f"{where}: dimension {d:,} in shape {tuple(dims)} is over {MAX_DIM:,}, "
                              "the largest the kernels represent (int16)")
    size = math.prod(dims)
    if size > MAX_TENSOR_BYTES:
        raise McugenError(f"{where}: shape {tuple(dims)} holds {size:,} values, more than the "
                          f"{MAX_TENSOR_BYTES:,} mcugen plans for")


def check_graph(g, quantized: bool = True) -> None:
    """The graph against what the kernels represent: shapes, window
    arithmetic in int16 and, once quantized, quantization parameters,
    constant sizes, multipliers and shifts. Raises McugenError naming the
    tensor or op."""
    from .ops.common import as_hwc

    for name, t in g.tensors.items():
        check_shape(t.shape, f"tensor {shown(name)!r}")
        if quantized and t.q is not None:
            check_scale(t.q.scale, f"tensor {shown(name)!r} (its values, on the calibration data or as the file "
                        "says, are too large or too small for int8)")
            check_int8_zero_point(t.q.zero_point, f"tensor {shown(name)!r}", t.dtype)
    total = 0
    for op in g.ops:
        where = f"layer {shown(op.name)!r} ({op.kind})"
        strides = getattr(op, "strides", None)
        pads = getattr(op, "pads", None)
        if strides is not None or pads is not None:
            try:
                ih, iw, _ = as_hwc(g.shape(op.inputs[0]))
                oh, ow, _ = as_hwc(g.shape(op.outputs[0]))
            except ValueError as e:
                raise McugenError(f"{where}: {e}") from None
            k = getattr(op, "ksize", (1, 1))
            s = strides or (1, 1)
            p = pads or ((0, 0), (0, 0))
            for v in (*k, *s, *p[0], *p[1]):
                if not 0 <= int(v) <= MAX_DIM:
                    raise McugenError(f"{where}: kernel size, stride or padding {int(v)} outside [0, {MAX_DIM:,}]")
            if min(int(v) for v in (*k, *s)) < 1:
                raise McugenError(f"{where}: kernel size and stride must be >= 1")
            # The kernels compute oy * stride - pad (+ k) and the padded extent in int16.
            for o, st, pd, kk, i in ((oh, s[0], p[0], k[0], ih), (ow, s[1], p[1], k[1], iw)):
                if o * st + kk + pd[0] > MAX_DIM or i + pd[0] + pd[1] > MAX_DIM:
                    raise McugenError(f"{where}: window arithmetic (output {o} x stride {st} + kernel {kk} + "
                                      f"padding {pd[0]}) exceeds {MAX_DIM:,}, the int16 range of the kernels")
        if not quantized:
            continue
        for a in op.constants():
            total += a.nbytes
        for attr in ("mult", "shift"):
            v = getattr(op, attr, None)
            if isinstance(v, np.ndarray) and v.size:
                if attr == "mult" and (v.min() < 0 or v.max() > 2**31 - 1):
                    raise McugenError(f"{where}: multiplier outside int32")
                if attr == "shift" and (v.min() < -31 or v.max() > 30):
                    raise McugenError(f"{where}: shift outside [-31, 30]")
        check_requantization(g, op, where)
    if total > MAX_CONSTANT_BYTES:
        raise McugenError(f"the model holds {total:,} bytes of constants, more than the {MAX_CONSTANT_BYTES:,} "
                          "mcugen generates")


def _requant_ok(acc_bound: int, shift: int) -> bool:
    """Can requantize(acc) + zero point (|zero point| <= 128) stay inside int32
    for every |acc| <= acc_bound? mcg_requantize shifts left by max(shift, 0)
    first (wrapping in int32 if it overflows), then multiplies by a Q31
    multiplier below 1 and shifts right: the result is at most
    |acc| * 2^shift + 1."""
    left = max(int(shift), 0)
    return (acc_bound << left) + 1 + 128 <= 2**31 - 1 if left else acc_bound + 1 + 128 <= 2**31 - 1


def check_requantization(g, op, where: str) -> None:
    """Refuse ops whose requantized accumulator plus the output zero point
    could leave int32 in C (undefined behaviour there, a different clip in
    the reference): weights or scales so extreme that the output scale is
    far below the product of input and weight scales."""
    shifts = []
    b_eff = getattr(op, "b_eff", None)
    w_q = getattr(op, "w_q", None)
    shift = getattr(op, "shift", None)
    if isinstance(b_eff, np.ndarray) and isinstance(w_q, np.ndarray) and isinstance(shift, np.ndarray) and b_eff.size:
        depth = w_q.size // b_eff.size
        bound = np.abs(b_eff.astype(np.int64)) + depth * 16256
        for acc, s in zip(bound.reshape(-1), np.broadcast_to(shift, b_eff.shape).reshape(-1)):
            if not _requant_ok(int(acc), int(s)):
                raise McugenError(f"{where}: requantizing its accumulator (up to {int(acc):,}) with shift {int(s)} "
                                  "could overflow int32: its output scale is too small for its inputs and weights")
        return
    params = getattr(op, "params", None)
    if hasattr(op, "requant_bounds") and params is not None:  # the op says what it requantizes
        shifts = op.requant_bounds()
    elif op.kind in ("add", "const_binary") and params is not None:
        if len(params) == 3:  # add: inputs (x + offset) << 20 rescaled by multipliers < 1, summed
            (_, s1), (_, s2), (_, so) = params
            shifts = [(255 << 20, s1), (255 << 20, s2), (2 * (255 << 20) + 2, so)]
        else:  # mul: (x + offset) * (c + offset)
            ((_, s),) = params
            shifts = [(255 * 255, s)]
    elif op.kind == "reduce" and getattr(op, "mode", "") in ("mean", "sum"):
        _, r0, _, r1, _ = op.view(g)  # the sum less in_zp * count: |.| <= 256 * count
        shifts = [(256 * r0 * r1, op.shift)]
    elif op.kind == "prelu" and params:  # x - zp, and (x - zp) * (alpha - alpha_zp)
        (_, s1), (_, s2) = params
        shifts = [(255, s1), (255 * 255, s2)]
    for acc, s in shifts:
        if not _requant_ok(int(acc), int(s)):
            raise McugenError(f"{where}: requantizing (values up to {int(acc):,}, shift {int(s)}) could overflow "
                              "int32: its output scale is too small for its inputs")
