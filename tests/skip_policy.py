"""No silent skips: a test skipped because a tool or a dependency is missing
is a failure, so a half-set-up machine goes red (as it would in CI) instead of
green-and-skipped. The one allowed skip is data that is never committed
(../shared/models): mark it with ``skip_unless_data``, whose reason starts
with DATA_ABSENT. Loaded from tests/conftest.py; tests/test_skip_policy.py
runs it on planted skips."""
from __future__ import annotations

from pathlib import Path

import pytest

DATA_ABSENT = "data absent: "


def skip_unless_data(folder: Path) -> pytest.MarkDecorator:
    """Skip when ``folder`` (data never committed) is absent; the only skip allowed."""
    return pytest.mark.skipif(not Path(folder).is_dir(), reason=f"{DATA_ABSENT}{folder} (not committed)")


def _reason(rep) -> str:
    lr = rep.longrepr
    text = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    return text.removeprefix("Skipped: ")


def _police(rep) -> None:
    if rep.skipped and not hasattr(rep, "wasxfail") and not _reason(rep).startswith(DATA_ABSENT):
        reason = _reason(rep)
        rep.outcome = "failed"
        rep.longrepr = (f"skipped for a reason other than absent data ({reason}); a missing tool or dependency "
                        f"is a failure (tests/skip_policy.py)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _police(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _police(outcome.get_result())
