"""A short seeded fuzz campaign in `make test` (tests/fuzz.py holds the
mutators and the checks; `make fuzz` runs the long campaign): mutated
.tflite, .h5, .keras and calibration files through the pipeline and, one in
eight, through `mcugen build`. Every case must be refused with one line and
leave nothing behind, or give C that compiles, is sanitizer-clean and equals
the reference."""
from __future__ import annotations

import pytest

from fuzz import FORMATS, campaign

COUNT = 40  # cases per format: about a minute on two cores


@pytest.mark.filterwarnings("ignore")
def test_fuzz_campaign(tmp_path):
    r = campaign(COUNT, seed=7, jobs=2, work=tmp_path, log=lambda m: None)
    findings = [f"{fmt} #{i}: {kind}: {detail.strip().splitlines()[-1] if detail.strip() else ''}"
                for fmt, i, kind, detail in r["findings"]]
    assert not findings, "\n".join(findings)
    for fmt in FORMATS:
        c = r["counts"][fmt]
        assert sum(c.values()) == COUNT
        # Both outcomes occur, so the campaign exercises refusals and accepted C alike.
        assert c["refused"] > 0 and c["ok"] > 0, (fmt, dict(c))
