"""Running PlatformIO for ``mcugen flash``: its output streams through as it
comes (a framework build takes minutes), and when it fails the line that says
why (avrdude's ``can't open device``, esptool's ``could not open port``, a
missing upload port, ...) becomes mcugen's one-line error, not PlatformIO's
closing summary."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from .errors import McugenError

# PlatformIO's own closing lines: they say that it failed, not why.
_SUMMARY = re.compile(r"^(\*\*\* \[.*\] Error \d+|=+ .*\[(FAILED|ERROR)\].*=*|Environment\s.*\sFAILED.*|"
                      r"=+ \d+ failed.*|-+|=+)$", re.I)
# What says why, most specific first: a port or device problem, then an
# "error:" line (a compiler's, avrdude's, PlatformIO's), then anything failed.
_CAUSES = (
    re.compile(r"could not|can't|cannot|unable to|no such|permission denied|timed out|not in sync|"
               r"please specify|no device|not found|not responding", re.I),
    re.compile(r"(^|\s|:)(fatal )?error\b", re.I),
    re.compile(r"fail", re.I),
)


def find_pio() -> str:
    """``$MCUGEN_PIO``, else the pio beside this Python, else pio on PATH."""
    env = os.environ.get("MCUGEN_PIO")
    if env:
        return env
    pio = shutil.which("pio", path=str(Path(sys.executable).parent)) or shutil.which("pio")
    if not pio:
        raise McugenError("PlatformIO (pio) not found: pip install platformio")
    return pio


def failure_cause(lines: list[str]) -> str | None:
    """The line of PlatformIO's output that says why it failed."""
    candidates = [ln.strip() for ln in lines if ln.strip() and not _SUMMARY.match(ln.strip())]
    for pattern in _CAUSES:
        for s in candidates:
            if pattern.search(s):
                return s
    return None


def run_streaming(cmd: list[str], echo: Callable[[str], None]) -> tuple[int, list[str]]:
    """Run ``cmd``, passing each output line (stdout and stderr merged) to
    ``echo`` as it arrives; (exit code, the lines)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, errors="replace", bufsize=1, env=env)
    except OSError as e:
        raise McugenError(f"cannot run PlatformIO ({cmd[0]}): {e.strerror or e}") from None
    lines = []
    try:
        for line in proc.stdout:
            line = line.rstrip("\r\n")
            lines.append(line)
            echo(line)
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc.returncode, lines


def upload(folder: Path, env: str | None, port: str | None, echo: Callable[[str], None]) -> None:
    cmd = [find_pio(), "run", "-d", str(folder), "-t", "upload"] + (["-e", env] if env else [])
    cmd += ["--upload-port", port] if port else []
    code, lines = run_streaming(cmd, echo)
    if code == 0:
        return
    text = "\n".join(lines)
    installing = [ln.strip() for ln in lines if ln.strip().startswith("Platform Manager: Installing")]
    if installing and "HTTPClientError" in text:
        what = installing[-1].split("Installing", 1)[1].strip()
        raise McugenError(f"PlatformIO could not download its '{what}' platform (no network?); "
                          f"run `pio run -d {folder} -t upload` where PlatformIO can fetch it")
    cause = failure_cause(lines)
    last = next((ln.strip() for ln in reversed(lines) if ln.strip()), f"exit {code}")
    raise McugenError(f"PlatformIO upload failed: {cause or last}")
