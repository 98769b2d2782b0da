"""The command line: build, check, inspect, verify, bench, compare, eval, flash, boards."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import McugenError
from .limits import shown

out = Console(highlight=False)
if not out.is_terminal:
    out = Console(highlight=False, width=200)
err = Console(stderr=True, highlight=False)


def user_errors(fn):
    """McugenError -> one line on stderr and exit 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except McugenError as e:
            click.echo(f"mcugen: error: {e}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("mcugen: interrupted", err=True)
            sys.exit(130)

    return wrapper


def _warn(msg: str) -> None:
    click.echo(f"mcugen: {msg}", err=True)


def _busy(what: str):
    """A spinner on stderr naming the long step under way (terminals only)."""
    import contextlib

    return err.status(what, spinner="dots") if err.is_terminal else contextlib.nullcontext()


def _prepare(model, calib, quantizer):
    from .pipeline import prepare

    how = " with TFLiteConverter" if quantizer.startswith("tflite") and Path(model).suffix.lower() != ".tflite" else ""
    with _busy(f"loading and quantizing {Path(model).name}{how}"):
        return prepare(model, calib, warn=_warn, quantizer=quantizer)


model_arg = click.argument("model", type=click.Path(path_type=Path))
calib_opt = click.option("--calib", type=click.Path(path_type=Path),
                         help="Calibration inputs (.npz with 'x', or .npy; several inputs: an .npz with one array "
                              "per input, named as the input or x0, x1 ...).")
quantizer_opt = click.option(
    "--quantizer", type=click.Choice(["mcugen", "tflite", "tflite-16x8"]), default="mcugen", show_default=True,
    help="Who quantizes a Keras model: mcugen, or TFLiteConverter (full int8, --calib as representative data), "
    "or TFLiteConverter in 16x8 (int16 activations, int8 weights: more accuracy, twice the RAM). "
    "A .tflite MODEL keeps its own quantization.")


class _Cli(click.Group):
    """Click's usage errors (a missing argument, a bad option value) as one
    line on stderr, like every other user error, instead of the usage block."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            rv = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # plain `mcugen`: the help, as click prints it
                click.echo(e.format_message(), err=True)
                sys.exit(e.exit_code)
            cmd = e.ctx.command_path if e.ctx is not None else "mcugen"
            click.echo(f"mcugen: error: {e.format_message().rstrip('.')} (see `{cmd} --help`)", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"mcugen: error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("mcugen: interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


def _layer_table(g, cm, title: str) -> Table:
    """Per layer: op, shapes, parameters, MACs, output quantization, arena."""
    from .report import layer_rows

    table = Table(title=title)
    for col in ("#", "layer", "op", "", "input", "output", "params", "MACs", "scale", "zp", "offset", "bytes"):
        table.add_column(col, justify="right" if col in ("#", "params", "MACs", "zp", "offset", "bytes") else "left")
    for r in layer_rows(g, cm):
        detail = r.detail + (f" +{r.activation}" if r.activation else "")
        output = str(tuple(r.output)) + ("" if r.dtype == "int8" else f" {r.dtype}")
        table.add_row(str(r.index), r.name, r.op, detail, " ".join(str(tuple(s)) for s in r.inputs), output,
                      f"{r.params:,}", f"{r.macs:,}", f"{r.scale:.4g}", str(r.zero_point), str(r.arena_offset) if r.arena_offset >= 0 else "input", str(r.bytes))
    return table


def _fit_rows(table: Table, fit, board) -> None:
    table.add_row("memory of", f"{fit.firmware} ({fit.how})")
    table.add_row("flash", f"{fit.flash_bytes:,} of {fit.flash_budget:,} bytes")
    table.add_row("SRAM", f"{fit.ram_total:,} of {fit.sram_budget:,} bytes "
                  f"({fit.sram_bytes:,} static + {fit.stack_bytes:,} stack)")
    for limit in fit.limits:
        table.add_row("limit", limit)
    table.add_row("fits", "yes" if fit.fits else "NO")


@click.group(cls=_Cli)
@click.version_option(package_name="mcugen")
def main():
    """Keras models to int8 C for microcontrollers, bit-exact with the reference."""


@main.command()
@model_arg
@click.option("--board", "board_name", required=True, help="Target board (see `mcugen boards`).")
@calib_opt
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Project folder [build/<model>-<board>].")
@click.option("--force", is_flag=True, help="Write the project even if the model does not fit the board, "
              "and overwrite generated files you edited in an existing project.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout (layers, totals, fit, project).")
@quantizer_opt
@user_errors
def build(model, board_name, calib, output, force, as_json, quantizer):
    """Write a PlatformIO project that runs MODEL on BOARD."""
    from .boards import get_board
    from .emit import render
    from .fit import check_fit
    from .project import check_output_dir, default_output_dir, write_project
    from .report import totals

    board = get_board(board_name)
    folder = output or default_output_dir(Path(model), board)
    check_output_dir(folder, overwrite=force)
    p = _prepare(model, calib, quantizer)
    cm = render(p.graph, source=Path(model).name, board=board)
    with _busy(f"linking for {board.name} to measure flash and RAM"):
        fit = check_fit(p.graph, cm, board)
    name = shown(Path(model).name)
    if not fit.fits:
        from .fit_advice import refusal

        with _busy("looking for a board that fits"):
            msg = refusal(p.graph, cm, fit, board, name)
        if not force:
            raise McugenError(msg + " (--force writes it anyway)")
        _warn("warning: " + msg)
    notes: list[str] = []
    folder = write_project(folder, p.graph, cm, board, p.graph.quantize_inputs([x[:4] for x in p.samples]),
                           overwrite=force, notes=notes)
    for note in notes:
        _warn(note)
    if as_json:
        from .report import as_json as report_json

        d = report_json(p.graph, cm)
        d.update(board=board.name, fit=fit.to_json(), project=str(folder), notes=notes)
        click.echo(json.dumps(d))
        return
    out.print(_layer_table(p.graph, cm, Path(model).name))
    t = totals(p.graph, cm)
    table = Table(title=escape(f"{name} -> {board.description}"), show_header=False)
    table.add_row("layers", str(t.layers))
    table.add_row("parameters", f"{t.params:,}")
    table.add_row("MACs", f"{t.macs:,}")
    table.add_row("weights in flash", f"{t.weights_flash_bytes:,} bytes")
    table.add_row("activation arena", f"{t.arena_bytes:,} bytes (the input{'s stay' if len(t.inputs) > 1 else ' stays'}"
                  f" in the caller's buffer{'s' if len(t.inputs) > 1 else ''})")
    if len(t.inputs) > 1 or len(t.outputs) > 1:
        for kind, rows in (("input", t.inputs), ("output", t.outputs)):
            for k, r in enumerate(rows):
                table.add_row(f"{kind} {k}", escape(f"{shown(r.name)} (C: {r.c_name}) {tuple(r.shape)}"))
    table.add_row("memory of", f"{fit.firmware} ({fit.how})")
    table.add_row("flash", f"{fit.flash_bytes:,} of {fit.flash_budget:,} bytes")
    table.add_row("SRAM", f"{fit.ram_total:,} of {fit.sram_budget:,} bytes "
                  f"({fit.sram_bytes:,} static + {fit.stack_bytes:,} stack)")
    table.add_row("PlatformIO", f"its figure adds the {board.platformio.get('framework', '')} framework and "
                  f"src/main.cpp: the board file reserves {board.reserve_flash_bytes:,} bytes of flash and "
                  f"{board.reserve_sram_bytes:,} of SRAM for them")
    table.add_row("fits", "yes" if fit.fits else "NO (--force)")
    table.add_row("project", escape(shown(folder)))
    out.print(table)


@main.command()
@model_arg
@click.option("--board", "board_name", required=True, help="Target board (see `mcugen boards`).")
@calib_opt
@click.option("-n", "n", default=100, show_default=True, type=click.IntRange(min=1), help="Number of inputs.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--force", is_flag=True, help="Run the model even if it does not fit the board.")
@quantizer_opt
@user_errors
def verify(model, board_name, calib, n, as_json, quantizer, force):
    """Cross-compile MODEL for BOARD, run it in a simulator, compare every byte."""
    from .boards import get_board
    from .verify import run_verify

    board = get_board(board_name)
    p = _prepare(model, calib, quantizer)
    with _busy(f"cross-compiling for {board.name} and running {n} inputs in the simulator"):
        r = run_verify(p, board, n=n, force=force)
    if as_json:
        click.echo(json.dumps(r.to_json()))
    else:
        if r.simulator_note:
            out.print(escape(f"note: {r.simulator_note}"))
        out.print(escape(f"bit-exact on {board.name}: {r.bit_exact}/{r.inputs} inputs ({r.simulator})"))
        if r.first_mismatch_layer:
            out.print(escape(f"first layer that differs: {shown(r.first_mismatch_layer)}"))
        out.print(f"{r.unit} per inference: {r.count:,} ({r.per_mac:.1f} per MAC, {r.macs:,} MACs); "
                  f"{r.ms:,.2f} ms {r.ms_note}")
        out.print(f"model: flash {r.model_flash_bytes:,} bytes, SRAM {r.model_sram_bytes:,} static + "
                  f"{r.model_stack_bytes:,} stack ({r.model_firmware}; {r.model_how}; as `build` reports it)")
        out.print(f"harness: flash {r.flash_bytes:,} bytes, SRAM {r.sram_bytes:,} static + {r.stack_bytes:,} "
                  "stack (the bare-metal test firmware: model + runtime + UART and timer code, test vectors "
                  "excluded; stack measured in the simulator)")
    sys.exit(0 if r.bit_exact == r.inputs else 1)


def _writable_file(path: Path | None, suffix: str, what: str) -> None:
    """Refuse an output file that could not be written, before any work."""
    if path is None:
        return
    if path.suffix.lower() != suffix:
        raise McugenError(f"{what} {path}: the file name must end in {suffix}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise McugenError(f"{what} {path}: folder {parent} does not exist")
    if path.is_dir():
        raise McugenError(f"{what} {path}: is a folder")
    import os

    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise McugenError(f"{what} {path}: not writable")


def _write_atomic(path: Path, write) -> None:
    """write(tmp) then rename: a failure leaves nothing half-written."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


MODEL_SUFFIXES = (".h5", ".keras", ".tflite")


@main.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--board", "board_name", required=True, help="Target board (see `mcugen boards`).")
@calib_opt
@click.option("-n", "n", default=10, show_default=True, type=click.IntRange(min=1),
              help="Inputs per model (all checked byte for byte; the count is the largest).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--layers", "show_layers", is_flag=True, help="Also time every layer (a second, timing build).")
@click.option("--plot", type=click.Path(path_type=Path), help="Write a PNG of the per-layer split (implies --layers).")
@click.option("--save", type=click.Path(path_type=Path), help="Also write the JSON report to this .json file.")
@quantizer_opt
@user_errors
def bench(models, board_name, calib, n, as_json, show_layers, plot, save, quantizer):
    """Speed and size of each MODEL on BOARD, measured in its simulator."""
    from contextlib import nullcontext

    from .bench import notes, plot_layers, print_tables, run_bench
    from .boards import get_board
    from .pipeline import prepare

    board = get_board(board_name)
    for m in models:
        if not m.exists():
            raise McugenError(f"model file not found: {m}")
        if m.is_dir() or m.suffix.lower() not in MODEL_SUFFIXES:
            raise McugenError(f"{m}: not a model file (expected {', '.join(MODEL_SUFFIXES)})")
    _writable_file(plot, ".png", "--plot")
    _writable_file(save, ".json", "--save")
    if plot is not None:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise McugenError("--plot needs matplotlib: pip install matplotlib")
    layers = show_layers or plot is not None
    prepared = []  # every model loaded before any is run: a bad one stops the command at once
    for m in models:
        with err.status(f"loading {m.name} ...", spinner="dots") if err.is_terminal else nullcontext():
            prepared.append(prepare(m, calib, warn=_warn, quantizer=quantizer))
    results = []
    for p in prepared:
        with err.status(f"{p.path.name} on {board.name} ...", spinner="dots") if err.is_terminal else nullcontext():
            results.append(run_bench(p, board, n=n, layers=layers))
    unit = results[0].verify.unit
    report = {"board": board.name, "simulator": results[0].verify.simulator, "unit": unit,
              "notes": notes(unit, board.clock_hz), "models": [r.to_json() for r in results]}
    if plot is not None:
        _write_atomic(plot, lambda tmp: plot_layers(results, tmp))
    if save is not None:
        _write_atomic(save, lambda tmp: tmp.write_text(json.dumps(report, indent=1) + "\n"))
    if as_json:
        click.echo(json.dumps(report))
    else:
        print_tables(out, results, board, report["notes"], layers)
        if plot is not None:
            out.print(f"per-layer plot: {plot}")
        if save is not None:
            out.print(f"JSON report: {save}")
    sys.exit(0 if all(r.verify.bit_exact == r.verify.inputs for r in results) else 1)


@main.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--board", "board_name", help="Board (needed when TARGET is a model).")
@calib_opt
@click.option("--port", help="Upload port (default: PlatformIO's autodetection).")
@quantizer_opt
@user_errors
def flash(target, board_name, calib, port, quantizer):
    """Build (if TARGET is a model) and upload with PlatformIO (its output streams through)."""
    if target.is_dir() and (target / "platformio.ini").is_file():
        folder = target
    else:
        if not board_name:
            raise McugenError("flashing a model needs --board")
        from .boards import get_board
        from .emit import render
        from .project import default_output_dir, write_project

        board = get_board(board_name)
        p = _prepare(target, calib, quantizer)
        cm = render(p.graph, source=target.name, board=board)
        folder = write_project(default_output_dir(target, board), p.graph, cm, board,
                               p.graph.quantize_inputs([x[:4] for x in p.samples]))
    from .platformio import upload

    upload(folder, board_name, port, echo=click.echo)
    out.print(f"uploaded {folder}")


@main.command()
@model_arg
@calib_opt
@click.option("-n", "n", default=100, show_default=True, type=click.IntRange(min=1), help="Number of inputs.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--no-sanitize", is_flag=True, help="Build without AddressSanitizer/UBSan (faster).")
@quantizer_opt
@user_errors
def check(model, calib, n, as_json, no_sanitize, quantizer):
    """Run the generated C on the host against the int8 reference and Keras."""
    from .check import run_check

    p = _prepare(model, calib, quantizer)
    with _busy(f"compiling the C for the host{'' if no_sanitize else ' (ASan, UBSan)'} and running {n} inputs"):
        r = run_check(p, n=n, sanitize=not no_sanitize)
    if as_json:
        click.echo(json.dumps(r.to_json()))
    else:
        out.print(f"bit-exact: {r.bit_exact}/{r.inputs} inputs")
        out.print(f"max |C - reference|: {r.max_abs_diff}")
        if r.first_mismatch_layer:
            out.print(f"first layer that differs: {r.first_mismatch_layer}")
        # A .tflite has no float model: the comparison is with LiteRT's output.
        against = ("the float model" if p.keras_model is not None
                   else f"{p.reference_oracle} (a .tflite has no float model)")
        if r.float_agreement is not None:
            out.print(f"argmax agreement with {against}: {r.float_agreement:.1%}")
        for o in r.outputs:  # a model with several outputs: each
            agree = f", argmax agreement {o.float_agreement:.1%}" if o.float_agreement is not None else ""
            out.print(escape(f"output {shown(o.name)!r}: bit-exact {o.bit_exact}/{r.inputs}, "
                             f"max |C - reference| {o.max_abs_diff}{agree}, "
                             f"max |int8 - {'float' if p.keras_model is not None else p.reference_oracle}| "
                             f"{o.float_max_abs_err:.6g}"))
        out.print(f"max |int8 - {'float' if p.keras_model is not None else p.reference_oracle}| (output units): "
                  f"{r.float_max_abs_err:.6g}")
    sys.exit(0 if r.bit_exact == r.inputs else 1)


@main.command()
@model_arg
@calib_opt
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--plan", "show_plan", is_flag=True, help="Also draw the memory plan.")
@click.option("--board", "board_name", help="Also check the fit on BOARD (linked ELF), writing no project.")
@quantizer_opt
@user_errors
def inspect(model, calib, as_json, show_plan, board_name, quantizer):
    """Per-layer table: shapes, parameters, MACs, quantization, memory."""
    from .emit import render
    from .report import as_json as report_json
    from .report import io_lines, totals

    board = None
    if board_name:
        from .boards import get_board

        board = get_board(board_name)
    p = _prepare(model, calib, quantizer)
    cm = render(p.graph, source=Path(model).name, board=board)
    fit = None
    if board is not None:
        from .fit import check_fit

        with _busy(f"linking for {board.name} to measure flash and RAM"):
            fit = check_fit(p.graph, cm, board)
    if as_json:
        d = report_json(p.graph, cm)
        if fit is not None:
            d.update(board=board.name, fit=fit.to_json())
        click.echo(json.dumps(d))
        return
    out.print(_layer_table(p.graph, cm, Path(model).name))
    t = totals(p.graph, cm)
    out.print(f"total: {t.layers} layers, {t.params:,} parameters, {t.macs:,} MACs, "
              f"{t.weights_flash_bytes:,} bytes of constants, arena {t.arena_bytes:,} bytes")
    for line in io_lines(t):
        out.print(escape(line))
    if show_plan:
        out.print(cm.plan.ascii())
    if fit is not None:
        table = Table(title=f"on {board.description}", show_header=False)
        _fit_rows(table, fit, board)
        out.print(table)
        if not fit.fits:
            from .fit_advice import refusal

            with _busy("looking for a board that fits"):
                out.print(refusal(p.graph, cm, fit, board, Path(model).name))


@main.command()
@model_arg
@calib_opt
@click.option("-n", "n", default=100, show_default=True, type=click.IntRange(min=1), help="Number of inputs.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--layers", "show_layers", is_flag=True, help="Also compare every layer (table, or 'layers' in JSON).")
@click.option("--no-sanitize", is_flag=True, help="Build without AddressSanitizer/UBSan (faster).")
@quantizer_opt
@user_errors
def compare(model, calib, n, as_json, show_layers, no_sanitize, quantizer):
    """Generated C (host) against TFLite's interpreters, LiteRT and TFLM.

    Exits 0 when the target is met, 1 when it is not, 2 when it is met as far
    as it was checked but an interpreter could not run the model."""
    from .compare import ORACLE_TITLES, run_compare

    p = _prepare(model, calib, quantizer)
    with _busy(f"running {n} inputs through the C, LiteRT and TFLite Micro"):
        r = run_compare(p, n=n, sanitize=not no_sanitize)
    if as_json:
        click.echo(json.dumps(r.to_json(layers=show_layers)))
        sys.exit(compare_exit_code(r))
    table = Table(title=f"{r.model}: generated C vs TFLite, {r.inputs} inputs ({r.quantizer} quantization)")
    for col in ("oracle", "identical output bytes", "max |diff|", "first layer that differs"):
        table.add_column(col)
    for name, o in r.oracles.items():
        if o.unavailable:
            table.add_row(ORACLE_TITLES[name], "n/a", "n/a", "could not run the model")
            continue
        table.add_row(ORACLE_TITLES[name], f"{o.identical_bytes_ratio:.4%}", str(o.max_abs_diff),
                      o.first_mismatch_layer or "-")
    out.print(table)
    if show_layers and r.quantizer == "tflite":
        lt = Table(title="per layer: end to end / on the oracle's own inputs")
        for col in ("#", "layer", "op", "LiteRT", "LiteRT local", "TFLM", "TFLM local"):
            lt.add_column(col, justify="right" if col == "#" else "left")
        per = {name: {la.layer: la for la in o.layers} for name, o in r.oracles.items()}
        names = list(dict.fromkeys(la.layer for o in r.oracles.values() for la in o.layers))
        for layer in names:
            cells = []
            for name in ("litert", "tflm"):
                la = per[name].get(layer)
                cells += ["n/a", "n/a"] if la is None else [f"{la.identical_bytes_ratio:.2%}",
                                                            f"{la.local_identical_bytes_ratio:.2%}"]
            any_la = per["litert"].get(layer) or per["tflm"].get(layer)
            lt.add_row(str(any_la.op_index), layer, any_la.op, *cells)
        out.print(lt)
    for note in r.notes:
        out.print(f"note: {note}")
    out.print(f"target: {r.target}: {r.verdict}")
    sys.exit(compare_exit_code(r))


def compare_exit_code(r) -> int:
    """0: target met; 1: not met; 2: met where checked, but an oracle could
    not run the model, so part of the target was not checked."""
    if r.ok:
        return 0
    return 2 if r.unchecked and r.met_where_checked else 1


@main.command("eval")
@model_arg
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="Labelled data: .npz with the inputs as for --calib ('x', or one array per input named as "
              "the input or x0, x1 ...) and the labels: 'y' for one output; for several, one array per output, "
              "'y_<output name>' or y0, y1 ... (an output without labels is not scored). Labels are optional for "
              "--metric mae on an autoencoder.")
@calib_opt
@click.option("--metric", type=click.Choice(["accuracy", "mae", "auc"]), default="accuracy", show_default=True,
              help="accuracy (argmax, or > 0.5 for one output), mean absolute error (regressors; an autoencoder "
              "needs no 'y': its targets are its inputs) or ROC AUC (anomaly detection: 'y' normal/anomalous "
              "or 0/1, scored by the reconstruction error or the one output). Applies to every scored output.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@user_errors
def eval_cmd(model, data, calib, metric, as_json):
    """Accuracy of the float, mcugen int8 and TFLite int8 models on DATA (each output with labels)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .evaluate import run_eval

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        r = run_eval(model, data, calib, metric=metric, warn=_warn, progress=progress)
    if as_json:
        click.echo(json.dumps(r.to_json()))
        return
    fmt = (lambda v: "-" if v is None else f"{v:.2%}") if metric == "accuracy" else (
        lambda v: "-" if v is None else f"{v:.4f}" if metric == "auc" else f"{v:.6g}")
    table = Table(title=f"{r.model} on {r.data}: {r.samples} samples, {metric}")
    several = len(r.outputs) + len(r.skipped) > 1  # one row per scored output
    for col in (("output",) if several else ()) + (
            "float (Keras)", "mcugen int8", "TFLite int8 (LiteRT)", "mcugen --quantizer tflite"):
        table.add_column(col)
    for o in r.outputs:
        table.add_row(*((o.name,) if several else ()), fmt(o.float), fmt(o.mcugen_int8), fmt(o.tflite_int8),
                      fmt(o.mcugen_tflite_int8))
    out.print(table)
    out.print(f"calibration: {r.calibration}")
    for note in r.notes:
        out.print(f"note: {note}")


@main.command("boards")
@user_errors
def boards_cmd():
    """List the known boards."""
    from .boards import all_boards

    table = Table()
    for col in ("board", "description", "arch", "core", "clock", "flash", "SRAM"):
        table.add_column(col)
    for b in all_boards().values():
        table.add_row(b.name, b.description, b.arch, b.core, f"{b.clock_hz // 1_000_000} MHz",
                      f"{b.flash_bytes // 1024} KB", f"{b.sram_bytes // 1024} KB")
    out.print(table)


if __name__ == "__main__":
    main()
