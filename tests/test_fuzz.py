"""A short seeded fuzz campaign in `make test` (tests/fuzz.py holds the
mutators and the checks; `make fuzz` runs the long campaign under the same
rules): each seed as it is, harmless mutants (a file called `harness`,
tensors renamed, a .keras zip rewritten, float64 or narrower calibration
data ...) and mutated .tflite, .h5, .keras and calibration files through the
pipeline and, one in eight, through `mcugen build`. Seeds and harmless
mutants must be accepted; a mutant refused with one line, for a known reason
(tests/refusal_reasons.py), leaving the folder as it was; anything accepted
gives C that compiles, is sanitizer-clean, equals the reference on
calibration-like and raw int8 rows, and, for a .tflite, equals TFLM (or
LiteRT); a Keras model's float IR equals Keras."""
from __future__ import annotations

import pytest

from fuzz import FORMATS, campaign

COUNT = 24  # cases per format (the first 3 to 6 are the seeds): about as long as 40 were without the oracles


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return campaign(COUNT, seed=7, jobs=2, work=tmp_path_factory.mktemp("fuzz"), log=lambda m: None)


@pytest.mark.filterwarnings("ignore")
def test_fuzz_campaign_has_no_finding(result):
    findings = [f"{fmt} #{i}: {kind}: {detail.strip().splitlines()[-1] if detail.strip() else ''}"
                for fmt, i, kind, detail in result["findings"]]
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_class_of_case_occurs(result, fmt):
    c, classes = result["counts"][fmt], result["classes"][fmt]
    assert sum(c.values()) == COUNT
    # Seeds and harmless mutants were run and accepted; mutants were both
    # refused and accepted, so the campaign exercises both paths.
    assert classes["seed ok"] >= 3 and classes["harmless ok"] >= 2, dict(classes)
    assert classes["mutant refused"] > 0 and classes["mutant ok"] > 0, dict(classes)
