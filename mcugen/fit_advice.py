"""What ``build`` says when a model does not fit: one short line (the
resource, how much over, the biggest tensor and layer by their short names)
and a board that would fit, found by linking the model for the next larger
real boards (simulated QEMU machines are not suggested)."""
from __future__ import annotations

from .boards import Board, all_boards
from .emit import CModel, render
from .errors import McugenError
from .fit import Fit, check_fit
from .ir import Graph

NAME_CHARS = 32
TRIES = 3  # boards linked at most, smallest first


def short(name: str) -> str:
    """A converter's tensor name ('model/conv2d_3/Relu;model/conv2d_3/BiasAdd;...')
    cut to its first part, then to NAME_CHARS."""
    first = name.split(";", 1)[0]
    return first if len(first) <= NAME_CHARS else first[: NAME_CHARS - 3] + "..."


def biggest(g: Graph, cm: CModel) -> list[str]:
    out = []
    if cm.plan.buffers:
        b = max(cm.plan.buffers, key=lambda b: b.size)
        out.append(f"largest tensor {short(b.tensors[0])!r} {b.size:,} B")
    weighted = [op for op in g.ops if op.constants()]
    if weighted:
        op = max(weighted, key=lambda op: sum(a.nbytes for a in op.constants()))
        out.append(f"largest layer {short(op.name)!r} {sum(a.nbytes for a in op.constants()):,} B of constants")
    return out


def over(fit: Fit) -> list[str]:
    """How much each resource is over, briefly."""
    out = []
    if fit.flash_bytes > fit.flash_budget:
        out.append(f"flash {fit.flash_bytes:,} B, {fit.flash_bytes - fit.flash_budget:,} over {fit.flash_budget:,}")
    if fit.ram_total > fit.sram_budget:
        out.append(f"SRAM {fit.ram_total:,} B, {fit.ram_total - fit.sram_budget:,} over {fit.sram_budget:,}")
    return out


def board_that_fits(g: Graph, fit: Fit, board: Board) -> tuple[Board, Fit] | None:
    """The smallest real board (by flash + SRAM budget) whose budgets exceed
    what the model needs here and on which the linked model fits."""
    candidates = [b for b in all_boards().values() if b.name != board.name and b.platformio.get("platform") != "native"
                  and b.flash_budget >= fit.flash_bytes * 0.8 and b.sram_budget >= fit.ram_total * 0.8]
    candidates.sort(key=lambda b: (b.flash_budget + b.sram_budget, b.arch != board.arch, b.name))
    for b in candidates[:TRIES]:
        try:
            f = check_fit(g, render(g, board=b), b)
        except McugenError:  # that board's compiler cannot build it: not a suggestion
            continue
        if f.fits:
            return b, f
    return None


def refusal(g: Graph, cm: CModel, fit: Fit, board: Board, model_name: str, suggest: bool = True) -> str:
    how = fit.how or ("linked" if fit.measured else "estimate")
    text = (f"{model_name} does not fit {board.name}: {'; '.join(fit.limits + over(fit))} ({how}); "
            f"{', '.join(biggest(g, cm))}")
    found = board_that_fits(g, fit, board) if suggest else None
    if found:
        b, f = found
        text += f"; fits {b.name} ({f.flash_bytes:,} B flash, {f.ram_total:,} B SRAM)"
    return text
