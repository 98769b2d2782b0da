"""``mcugen flash``: PlatformIO's output streams through while it runs, and a
failed upload's error names the cause, not PlatformIO's summary line. A
stand-in ``pio`` (MCUGEN_PIO) plays PlatformIO, which cannot reach a board or
fetch platforms here."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcugen.platformio import failure_cause

MCUGEN = Path(sys.executable).with_name("mcugen")
AVRDUDE_FAIL = [
    "Processing uno (platform: atmelavr; board: uno; framework: arduino)",
    "Compiling .pio/build/uno/src/error_handler.cpp.o",
    "Configuring upload protocol...",
    "Uploading .pio/build/uno/firmware.hex",
    'avrdude: ser_open(): can\'t open device "/dev/ttyACM0": No such file or directory',
    "*** [upload] Error 1",
    "========================= [FAILED] Took 1.73 seconds =========================",
]


def fake_pio(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "pio"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "platformio.ini").write_text("[env:uno]\nplatform = atmelavr\n")
    return folder


@pytest.mark.parametrize("lines, cause", [
    (AVRDUDE_FAIL, AVRDUDE_FAIL[4]),
    (["Uploading...", "A fatal error occurred: could not open port '/dev/ttyACM0': [Errno 2] No such file",
      "*** [upload] Error 2", "==== [FAILED] Took 3.1 seconds ===="], "A fatal error occurred: could not open port"),
    (["Looking for upload port...", "Error: Please specify `upload_port` for environment or use global "
      "`--upload-port` option.", "==== [FAILED] Took 0.5 seconds ===="], "Error: Please specify `upload_port`"),
    (["src/main.cpp:3:1: error: 'x' does not name a type", "*** [.pio/build/uno/src/main.cpp.o] Error 1",
      "==== [FAILED] Took 0.5 seconds ===="], "src/main.cpp:3:1: error:"),
    (["==== [FAILED] Took 0.5 seconds ===="], None),
])
def test_failure_cause_is_the_line_that_says_why(lines, cause):
    got = failure_cause(lines)
    assert (got is None) if cause is None else got.startswith(cause), got


def test_flash_streams_output_and_names_the_cause(tmp_path):
    folder = project(tmp_path)
    go = tmp_path / "go"
    # Prints a line, then waits until the test has seen it: only a streaming
    # mcugen shows it before PlatformIO exits.
    body = "echo 'Uploading .pio/build/uno/firmware.hex'\n"
    body += f"i=0; while [ ! -e '{go}' ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\n"
    body += f"[ -e '{go}' ] || {{ echo 'never released'; exit 3; }}\n"
    body += "".join(f"echo '{ln.replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}'\n" for ln in AVRDUDE_FAIL[4:])
    body += "exit 1\n"
    env = dict(os.environ, MCUGEN_PIO=str(fake_pio(tmp_path, body)))
    proc = subprocess.Popen([str(MCUGEN), "flash", str(folder), "--port", "/dev/ttyACM0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    # Seeing the first line before `go` exists is the proof of streaming: a
    # buffering mcugen would show it only after the fake PlatformIO gave up
    # waiting (10 s) and printed "never released" (asserted absent below).
    first = proc.stdout.readline()
    go.touch()
    assert "Uploading" in first
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "never released" not in rest and "[FAILED]" in rest
    assert err.strip().splitlines() == [
        'mcugen: error: PlatformIO upload failed: avrdude: ser_open(): can\'t open device "/dev/ttyACM0": '
        "No such file or directory"], err
    assert "Traceback" not in err


def test_flash_passes_port_and_reports_success(tmp_path):
    folder = project(tmp_path)
    args = tmp_path / "args"
    pio = fake_pio(tmp_path, f'echo "$@" > "{args}"\necho "==== [SUCCESS] Took 2.00 seconds ===="\n')
    r = subprocess.run([str(MCUGEN), "flash", str(folder), "--port", "/dev/ttyUSB3", "--board", "uno"],
                       capture_output=True, text=True, env=dict(os.environ, MCUGEN_PIO=str(pio)), timeout=60)
    assert r.returncode == 0, r.stderr
    assert "[SUCCESS]" in r.stdout and f"uploaded {folder}" in r.stdout
    assert args.read_text().split() == ["run", "-d", str(folder), "-t", "upload", "-e", "uno",
                                        "--upload-port", "/dev/ttyUSB3"]
