"""``mcugen build``: write a PlatformIO project for a board.

    <dir>/platformio.ini
    <dir>/src/main.cpp        runs the model on an embedded test input
    <dir>/lib/<name>/         the generated model (framework-free C)
    <dir>/test/test_model/    Unity golden test: pio test -e native | -e <board>

The project is written to a temporary sibling folder and moved into place
only when complete, so a failure leaves nothing half-written.

Rebuilding into an existing project touches only what mcugen generated: the
marker file ``.mcugen-project`` holds a manifest (each generated file and the
SHA-256 it was written with). A file whose bytes still equal its manifest
hash is regenerated; one the user edited is not overwritten without
``overwrite=True`` (``build --force``), and the refusal names it; files the
user added, ``.pio/`` and any other folder are left alone. A generated file
the new build no longer makes (another model name) is removed if unedited."""
from __future__ import annotations

import hashlib
import json
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
from .limits import check_path_name
from .reference import int8_outputs
from .task import output_is_classifier

MARKER = ".mcugen-project"


def default_output_dir(model_path: Path, board: Board) -> Path:
    return Path("build") / f"{model_path.stem}-{board.name}"


def check_output_dir(out_dir: Path, overwrite: bool = False) -> None:
    """Refuse, before any work, a folder that holds something else, or (unless
    ``overwrite``) a project whose generated files the user edited."""
    out_dir = Path(out_dir)
    check_path_name(out_dir, "output folder")
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / MARKER).exists())):
        raise McugenError(f"{out_dir} exists and is not an mcugen project; choose another -o")
    if not overwrite:
        _refuse_edits(out_dir, edited_files(out_dir))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(out_dir: Path) -> dict[str, str] | None:
    """{relative path: sha256} of the files mcugen generated in ``out_dir``;
    None when there is no manifest (no project, or one written by an mcugen
    that kept none)."""
    try:
        data = json.loads((Path(out_dir) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return None
    return {str(k): str(v) for k, v in files.items()}


def edited_files(out_dir: Path, new: dict[str, str] | None = None) -> list[str]:
    """Generated files of the project at ``out_dir`` that the user changed (or
    replaced with a folder), i.e. that differ from the manifest. Without a
    manifest: the files of ``new`` ({path: sha256} about to be written) that
    exist with other bytes."""
    out_dir = Path(out_dir)
    if not (out_dir / MARKER).is_file():
        return []
    old = read_manifest(out_dir)
    known = old if old is not None else (new or {})
    edited = []
    for rel, digest in sorted(known.items()):
        f = out_dir / rel
        if f.is_dir() or (f.is_file() and _sha256(f) != digest and (new or {}).get(rel) != _sha256(f)):
            edited.append(rel)
    return edited


def _refuse_edits(out_dir: Path, edited: list[str]) -> None:
    if edited:
        shown = ", ".join(edited[:6]) + (f" and {len(edited) - 6} more" if len(edited) > 6 else "")
        raise McugenError(
            f"{out_dir}: you changed {len(edited)} file{'s' if len(edited) > 1 else ''} that mcugen generated "
            f"({shown}); rebuilding would overwrite {'them' if len(edited) > 1 else 'it'}. Keep a copy and rerun "
            f"with --force (mcugen build), or write the project elsewhere with -o")


SKETCH_STEPS = 4  # calls the sketch of a model with state makes


def _typed(p) -> dict:
    """A port's C type, the macro that reads it from flash, Unity's array check."""
    bits = "16" if p.ctype == "int16_t" else "8"
    return dict(ctype=p.ctype, read=f"MCG_READ_S{bits}", unity=f"TEST_ASSERT_EQUAL_INT{bits}_ARRAY_MESSAGE")


def project_context(g: Graph, cm: CModel, board: Board, test_inputs) -> dict:
    """What the project templates need: per input and per output its buffer,
    size macro and embedded values (a one-input, one-output model keeps the
    names it always had: input, output, <MODEL>_INPUT_SIZE ...)."""
    from .emit import ports

    xs = [np.asarray(x).astype(t.np_dtype).reshape((-1,) + t.shape)
          for x, t in zip(g.input_arrays(test_inputs), g.input_tensors)]
    expected = int8_outputs(g, xs)  # a model with state: the inputs as one sequence from a reset
    # The sketch runs the first input, or for a model with state the first
    # few in sequence (one call from a reset would not show the state at work).
    steps = min(SKETCH_STEPS, len(xs[0])) if g.variables else 1
    ins, outs = ports(g, cm.name)
    NAME = cm.name.upper()
    single = len(ins) == 1 and len(outs) == 1
    in_ctx, out_ctx = [], []
    for p, x in zip(ins, xs):
        in_ctx.append(dict(
            buf="input" if single else f"input_{p.ident}",
            size_macro=f"{NAME}_INPUT_SIZE" if single else f"{NAME}_INPUT_{p.IDENT}_SIZE",
            golden_name="golden_inputs" if single else f"golden_input_{p.ident}",
            body=c_values(x[:steps]), golden=c_values(x), size=p.size, **_typed(p)))
    for k, (p, y) in enumerate(zip(outs, expected)):
        shown_values = min(p.size, 8)
        out_ctx.append(dict(
            buf="output" if single else f"output_{p.ident}",
            size_macro=f"{NAME}_OUTPUT_SIZE" if single else f"{NAME}_OUTPUT_{p.IDENT}_SIZE",
            golden_name="golden_outputs" if single else f"golden_output_{p.ident}",
            body=c_values(y[:steps]), golden=c_values(y), size=p.size, shown_values=shown_values,
            classifier=output_is_classifier(g, k),
            dequantize=f"{cm.name}_dequantize_output" if single else f"{cm.name}_dequantize_{p.ident}",
            label="" if len(outs) == 1 else f"{p.ident}: ", label_plain=p.ident, **_typed(p)))
    call = f"{cm.name}_invoke({', '.join(p['buf'] for p in in_ctx + out_ctx)})"
    label_size = 20 if len(outs) == 1 else 20 + len(", output ") + max(len(p.ident) for p in outs)
    return dict(version=__version__, board=board, name=cm.name, NAME=NAME, n_golden=len(xs[0]), steps=steps,
                ins=in_ctx, outs=out_ctx, call=call, label_size=label_size)


def write_project(out_dir: Path, g: Graph, cm: CModel, board: Board, test_inputs: np.ndarray,
                  overwrite: bool = False, notes: list[str] | None = None) -> Path:
    """Write the project; ``test_inputs`` are int8 inputs: the first runs in
    src/main.cpp, all of them make the golden test in test/. Into an existing
    project only the generated files change (module docstring); ``notes``
    receives what happened to the user's files."""
    out_dir = Path(out_dir)
    check_output_dir(out_dir, overwrite)
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
        ctx = project_context(g, cm, board, test_inputs)
        env = environment()
        (staging / "platformio.ini").write_text(env.get_template("project/platformio.ini.j2").render(**ctx))
        (staging / "src").mkdir()
        (staging / "src" / "main.cpp").write_text(env.get_template("project/main.cpp.j2").render(**ctx))
        (staging / "test" / "test_model").mkdir(parents=True)
        (staging / "test" / "test_model" / "test_main.c").write_text(
            env.get_template("project/test_main.c.j2").render(**ctx))
        cm.write(staging / "lib" / cm.name)
        files = {f.relative_to(staging).as_posix(): _sha256(f) for f in sorted(staging.rglob("*")) if f.is_file()}
        manifest = json.dumps({"mcugen": __version__, "files": files}, indent=1, sort_keys=True) + "\n"
        if out_dir.exists():
            _update(out_dir, staging, files, manifest, overwrite, notes)
            shutil.rmtree(staging)
        else:
            (staging / MARKER).write_text(manifest)
            staging.rename(out_dir)
    except OSError as e:
        _clean(staging, parent, created)
        raise McugenError(f"cannot write {out_dir}: {e.strerror or e}") from None
    except BaseException:
        _clean(staging, parent, created)
        raise
    return out_dir


def _update(out_dir: Path, staging: Path, files: dict[str, str], manifest: str, overwrite: bool,
            notes: list[str] | None) -> None:
    """Move the generated files of ``staging`` into the existing project."""
    edited = edited_files(out_dir, files)
    if edited and not overwrite:
        _refuse_edits(out_dir, edited)
    old = read_manifest(out_dir) or {}
    for rel in files:
        dst = out_dir / rel
        if dst.is_dir():
            shutil.rmtree(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, dst)
    for rel in sorted(set(old) - set(files)):  # generated before, not now
        f = out_dir / rel
        if f.is_file() and rel not in edited:
            f.unlink()
            folder = f.parent
            while folder != out_dir and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent
    (out_dir / MARKER).write_text(manifest)
    if notes is not None:
        lost = [rel for rel in edited if rel in files]
        if lost:
            notes.append(f"overwrote your changes to {', '.join(lost)} (--force)")
        mine = set(files) | set(old) | {MARKER}
        kept = [f.relative_to(out_dir).as_posix() for f in out_dir.rglob("*")
                if f.is_file() and ".pio" not in f.relative_to(out_dir).parts and f.relative_to(out_dir).as_posix() not in mine]
        if kept or (out_dir / ".pio").exists():
            what = ([f"{len(kept)} file{'s' if len(kept) != 1 else ''} you added"] if kept else []) + (
                [".pio/"] if (out_dir / ".pio").exists() else [])
            notes.append(f"updated the generated files in {out_dir}; kept {' and '.join(what)}")


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
