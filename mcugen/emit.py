"""Render the quantized graph as C through the Jinja templates.

Produces ``<name>.h`` (the API: one named pointer per input and per output,
see templates/model.h.j2) and ``<name>.c`` (constants in flash, the arena,
the used kernels as static functions, ``<name>_invoke`` and ``<name>_reset``). Kernel
templates are looked up in the board's kernel families first
(templates/<family>/kernels/..., ``Board.kernel_families``: e.g. arm_dsp then
arm_v7m on a Cortex-M4) and then generically (templates/kernels/), so a faster
kernel for one core replaces the generic one without touching anything else:
it takes the same arguments and the same constants."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import numpy as np

from . import __version__
from .cnames import c_identifier, io_identifiers, unique_identifiers
from .ir import CNames, Graph

if TYPE_CHECKING:
    from .boards import Board
from .planner import Plan, plan_memory
from .resources import firmware_dir, templates_dir

FIRMWARE_FILES = ("mcg_runtime.h", "mcg_arch.h", "mcg_arch_avr.h", "mcg_arch_generic.h", "mcg_requant.h",
                  "mcg_requant_avr.h", "mcg_dot_avr.h", "mcg_arm_dsp.h", "mcg_arm_scalar.h",
                  "mcg_arm_im2col.h")


def c_int(v: int) -> str:
    v = int(v)
    return "(-2147483647 - 1)" if v == -(2**31) else str(v)


def c_float(v: float) -> str:
    """A float32 value as a C float literal (repr always has '.' or 'e')."""
    return f"{float(np.float32(v))!r}f"


@dataclass
class CArrayOut:
    symbol: str
    ctype: str
    n: int
    body: str


@dataclass
class Call:
    index: int
    name: str
    code: str
    out: str
    size: int


def c_values(values: np.ndarray) -> str:
    flat = [c_int(v) for v in np.asarray(values).reshape(-1)]
    lines = [", ".join(flat[i : i + 16]) for i in range(0, len(flat), 16)]
    return "    " + ",\n    ".join(lines)


@dataclass
class State:
    """A variable tensor, as <model>_reset() sets it."""

    name: str
    expr: str  # its pointer in the arena
    ctype: str
    size: int  # values
    value: int  # after a reset


@dataclass
class Kernel:
    stem: str  # templates/kernels/<stem>.c.j2, the generic kernel
    family: str | None = None  # templates/<family>/kernels/<stem>.c.j2 replaces it where guard holds
    guard: str = ""


def pick_kernel(stem: str, families: tuple[str, ...]) -> Kernel:
    from .boards import FAMILY_GUARDS

    root = templates_dir()
    for f in families:
        if (root / f / "kernels" / f"{stem}.c.j2").is_file():
            return Kernel(stem, f, FAMILY_GUARDS[f])
    return Kernel(stem)


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass
class Port:
    """One input or output of the generated API."""

    index: int
    name: str  # as the caller knows it (Keras layer, signature key)
    ident: str  # its C identifier: the invoke parameter, m_quantize_<ident> ...
    IDENT: str  # upper case, in <MODEL>_INPUT_<IDENT>_SIZE ...
    size: int
    shape: tuple[int, ...]
    scale: str  # C float literal
    zero_point: int
    expr: str = ""  # an output: where its bytes are at the end (arena or an input)
    used: bool = True  # an input: read by an op or copied out
    param: str = ""  # its <model>_invoke parameter
    ctype: str = "int8_t"  # its values' C type (int8_t, int16_t)
    lo: int = -128  # the type's range
    hi: int = 127

    def __post_init__(self):
        self.param = self.param or self.ident

    @property
    def nbytes(self) -> int:
        return self.size * (2 if self.ctype == "int16_t" else 1)


@dataclass
class CModel:
    name: str
    header: str
    source: str
    plan: Plan
    op_ids: list[str]
    flash_bytes: int
    input_size: int  # all inputs together (the harnesses pack them one after another)
    output_size: int
    kernels: list[Kernel]
    input_sizes: list[int] = field(default_factory=list)  # bytes of each input
    output_sizes: list[int] = field(default_factory=list)
    input_ctypes: list[str] = field(default_factory=list)  # int8_t or int16_t
    output_ctypes: list[str] = field(default_factory=list)

    def packed_call(self, inp: str, out: str) -> str:
        """The invoke call on packed byte buffers (int8_t): input k at the sum
        of the byte sizes before it in ``inp``, output k likewise in ``out``
        (an int16 port's bytes little-endian, as every target stores them;
        the buffers are 2-byte aligned and the sizes even where it matters)."""
        def arg(buf: str, at: int, ctype: str, const: str) -> str:
            p = f"{buf} + {at}" if at else buf
            return p if ctype == "int8_t" else f"({const}{ctype} *)(void *)({p})"

        args, at = [], 0
        for size, ctype in zip(self.input_sizes, self.input_ctypes or ["int8_t"] * len(self.input_sizes)):
            args.append(arg(inp, at, ctype, "const "))
            at += size
        at = 0
        for size, ctype in zip(self.output_sizes, self.output_ctypes or ["int8_t"] * len(self.output_sizes)):
            args.append(arg(out, at, ctype, ""))
            at += size
        return f"{self.name}_invoke({', '.join(args)})"

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"{self.name}.h", folder / f"{self.name}.c"]
        paths[0].write_text(self.header, encoding="utf-8")
        paths[1].write_text(self.source, encoding="utf-8")
        for f in FIRMWARE_FILES:
            dst = folder / f
            dst.write_text((firmware_dir() / f).read_text())
            paths.append(dst)
        return paths


def ports(g: Graph, name: str, tensor_expr: dict[str, str] | None = None) -> tuple[list[Port], list[Port]]:
    """The model's inputs and outputs as the generated API names them."""
    in_names, out_names = g.io_names()
    in_ids, out_ids = io_identifiers(in_names, out_names, name)
    read = {t for op in g.ops for t in op.inputs} | set(g.outputs)
    ins = [Port(k, n, i, i.upper(), t.size, t.shape, c_float(t.q.scale), t.q.zero_point, used=t.name in read,
                ctype=t.ctype, lo=t.limits[0], hi=t.limits[1])
           for k, (n, i, t) in enumerate(zip(in_names, in_ids, g.input_tensors))]
    outs = [Port(k, n, i, i.upper(), t.size, t.shape, c_float(t.q.scale), t.q.zero_point,
                 (tensor_expr or {}).get(t.name, ""), ctype=t.ctype, lo=t.limits[0], hi=t.limits[1])
            for k, (n, i, t) in enumerate(zip(out_names, out_ids, g.output_tensors))]
    if len(ins) == 1 and len(outs) == 1:  # the parameters a one-input, one-output model always had
        ins[0].param, outs[0].param = "in", "out"
    return ins, outs


# Header and source names a model must not take: the C library's headers
# (the generated folder is on the include path, so a model called "string"
# would shadow <string.h>), and the files mcugen and PlatformIO put beside it.
RESERVED_NAMES = frozenset("""assert complex ctype errno fenv float inttypes iso646 limits locale math setjmp
    signal stdalign stdarg stdatomic stdbool stddef stdint stdio stdlib stdnoreturn string tgmath threads time
    uchar wchar wctype strings unistd alloca malloc memory fcntl sys avr arduino unity unity_internals
    unity_config harness probe main test_main avr_main arm_main arm_startup pgmspace io interrupt""".split())
MAX_IDENTIFIER = 48  # the model's name in C symbols and file names


def model_identifier(graph_name: str) -> str:
    """The model's C identifier, also its header and source file names."""
    import hashlib

    name = c_identifier(graph_name.lower(), "model")
    if len(name) > MAX_IDENTIFIER:
        digest = hashlib.sha1(graph_name.encode("utf-8", "surrogateescape")).hexdigest()[:6]
        name = f"{name[:MAX_IDENTIFIER - 7].rstrip('_')}_{digest}"
    if name in RESERVED_NAMES:
        name = f"{name}_model"
    return name


def c_comment(text: str) -> str:
    """Text safe inside a C block comment: ASCII, no comment delimiters."""
    return ascii(str(text))[1:-1].replace("*/", "* /").replace("/*", "/ *")


def render(g: Graph, source: str = "", board: "Board | None" = None) -> CModel:
    """The C of the graph; with a board, its kernel families' kernels."""
    name = model_identifier(g.name)
    plan = plan_memory(g)
    op_ids = unique_identifiers([op.name for op in g.ops])
    ids = {id(op): i for op, i in zip(g.ops, op_ids)}
    in_params = [p.param for p in ports(g, name)[0]]

    def caller_expr(t: str) -> str:
        off = plan.in_caller_offsets.get(t, 0) // g.tensors[t].itemsize
        return in_params[plan.caller_input[t]] + (f" + {off}" if off else "")

    def arena_expr(t: str, off: int) -> str:
        if g.tensors[t].dtype == "int8":
            return f"{name}_arena + {off}"
        return f"({g.tensors[t].ctype} *)(void *)({name}_arena + {off})"

    tensor_expr = {t: caller_expr(t) if t in plan.in_caller else arena_expr(t, off)
                   for t, off in plan.offsets.items()}
    scratch_expr = {id(g.ops[i]): f"{name}_arena + {off}" for i, off in plan.scratch.items()}
    c = CNames(name, ids, tensor_expr, scratch_expr)

    families = board.kernel_families if board else ()
    for op in g.ops:
        op.specialize(families)
    arrays, calls, kernels = [], [], []
    for index, op in enumerate(g.ops):
        for a in op.constants():
            arrays.append(CArrayOut(c.const(op, a.suffix), a.ctype, int(a.values.size), c_values(a.values)))
        for kernel in op.kernels(g):
            if kernel not in kernels:
                kernels.append(kernel)
        out = op.outputs[0]
        label = c_comment(f"{op.kind} '{op.name}'")
        calls.append(Call(index, label, op.c_call(g, c), tensor_expr[out], g.tensors[out].nbytes))
    kernels = [pick_kernel(k, families) for k in kernels]
    flash = sum(a.nbytes for op in g.ops for a in op.constants())
    ins, outs = ports(g, name, tensor_expr)
    ctx = dict(
        version=__version__,
        source=c_comment(source),
        name=name,
        NAME=name.upper(),
        kernels=kernels,
        arrays=arrays,
        calls=calls,
        arena_size=max(plan.arena_size, 1),
        ins=ins,
        outs=outs,
        comment=c_comment,
        n_layers=len(g.ops),
        states=[State(t, tensor_expr[t], g.tensors[t].ctype, g.tensors[t].size, int(g.tensors[t].reset_value))
                for t in g.variables],
        macs=sum(op.macs(g) for op in g.ops),
    )
    env = environment()
    header = env.get_template("model.h.j2").render(**ctx)
    src = env.get_template("model.c.j2").render(**ctx)
    return CModel(name, header, src, plan, op_ids, flash, sum(p.nbytes for p in ins), sum(p.nbytes for p in outs),
                  kernels, [p.nbytes for p in ins], [p.nbytes for p in outs], [p.ctype for p in ins],
                  [p.ctype for p in outs])
