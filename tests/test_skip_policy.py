"""tests/skip_policy.py at work on planted skips, in a pytest of its own: a
tool missing (skipif, pytest.skip, importorskip, a module-level skip) fails;
absent data (skip_unless_data) skips."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

PLANTED = '''
import pytest
from skip_policy import skip_unless_data

@pytest.mark.skipif(True, reason="needs simavr")
def test_tool_skipif():
    pass

def test_tool_skip_call():
    pytest.skip("avr-gcc not installed")

def test_dependency_importorskip():
    pytest.importorskip("a_module_that_is_not_installed")

@skip_unless_data("/nonexistent/shared/models")
def test_data_absent():
    pass

def test_passes():
    pass
'''


def run(tmp_path, files: dict[str, str]) -> dict[str, str]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "skip_policy", "-p", "no:cacheprovider", "-rA",
                        "-q", "-p", "no:xdist", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                       env={"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin"}, timeout=120)
    return {m.group(2): m.group(1) for m in re.finditer(r"^(PASSED|FAILED|SKIPPED|ERROR) \S*?::(\w+)", r.stdout, re.M)
            } | {"_summary": r.stdout[-1500:]}


def test_tool_skips_fail_and_data_skips_skip(tmp_path):
    got = run(tmp_path, {"test_planted.py": PLANTED})
    red = ("FAILED", "ERROR")  # a skipif skips in setup: reported as an error
    assert got.get("test_tool_skipif") in red, got["_summary"]
    assert got.get("test_tool_skip_call") in red, got["_summary"]
    assert got.get("test_dependency_importorskip") in red, got["_summary"]
    assert "test_data_absent" not in got and "1 skipped" in got["_summary"], got["_summary"]
    assert got.get("test_passes") == "PASSED", got["_summary"]


def test_module_level_skip_fails(tmp_path):
    got = run(tmp_path, {"test_module_skip.py": 'import pytest\npytest.importorskip("not_installed_either")\n'
                                               "def test_x():\n    pass\n"})
    assert re.search(r"\b1 (failed|error)", got["_summary"]), got["_summary"]
