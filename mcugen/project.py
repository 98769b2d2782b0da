"""``mcugen build``: write a PlatformIO project for a board.

    <dir>/platformio.ini
    <dir>/src/main.cpp        runs the model on an embedded test input
    <dir>/lib/<name>/         the generated model (framework-free C)
    <dir>/test/test_model/    Unity golden test: pio test -e native | -e <board>

The project is written to a temporary sibling folder and moved into place
only when complete, so a failure leaves nothing half-written."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from . import __version__
from .boards import Board
from .emit import CModel, c_values, environment
from .errors import McugenError
from .ir import Graph
from .reference import int8_output

MARKER = ".mcugen-project"


def default_output_dir(model_path: Path, board: Board) -> Path:
    return Path("build") / f"{model_path.stem}-{board.name}"


def check_output_dir(out_dir: Path) -> None:
    """Refuse, before any work, a folder that holds something else."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / MARKER).exists())):
        raise McugenError(f"{out_dir} exists and is not an mcugen project; choose another -o")


def write_project(out_dir: Path, g: Graph, cm: CModel, board: Board, test_inputs: np.ndarray) -> Path:
    """Write the project; ``test_inputs`` are int8 inputs: the first runs in
    src/main.cpp, all of them make the golden test in test/."""
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    parent = out_dir.resolve().parent
    # The topmost missing parent folder: if the build fails, the (then empty)
    # folders made up to it are removed again.
    created = next((d for d in reversed([parent, *parent.parents]) if not d.exists()), None)
    staging = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp makes it 0700
    except OSError as e:
        _clean(staging, parent, created)
        raise McugenError(f"cannot write {out_dir}: {e.strerror or e}") from None
    try:
        xq = np.asarray(test_inputs, dtype=np.int8).reshape((-1,) + g.input.shape)
        expected = int8_output(g, xq)
        env = environment()
        ctx = dict(version=__version__, board=board, name=cm.name, NAME=cm.name.upper(),
                   input_body=c_values(xq[0]), output_body=c_values(expected[0]), n_golden=len(xq),
                   inputs_body=c_values(xq), outputs_body=c_values(expected))
        (staging / "platformio.ini").write_text(env.get_template("project/platformio.ini.j2").render(**ctx))
        (staging / "src").mkdir()
        (staging / "src" / "main.cpp").write_text(env.get_template("project/main.cpp.j2").render(**ctx))
        (staging / "test" / "test_model").mkdir(parents=True)
        (staging / "test" / "test_model" / "test_main.c").write_text(
            env.get_template("project/test_main.c.j2").render(**ctx))
        cm.write(staging / "lib" / cm.name)
        (staging / MARKER).write_text(f"mcugen {__version__}\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except OSError as e:
        _clean(staging, parent, created)
        raise McugenError(f"cannot write {out_dir}: {e.strerror or e}") from None
    except BaseException:
        _clean(staging, parent, created)
        raise
    return out_dir


def _clean(staging: Path | None, parent: Path, created: Path | None) -> None:
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
    folder = parent
    while created is not None and created in (folder, *folder.parents):
        try:
            folder.rmdir()  # only if empty: another build may share it
        except OSError:
            break
        folder = folder.parent
