"""The documentation's example picture is the product's own output, kept current."""

import importlib.util

from tests.conftest import ROOT


def test_the_analysis_example_in_the_readme_is_current():
    spec = importlib.util.spec_from_file_location("analysis_example", ROOT / "docs" / "analysis_example.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    samples, events = example.session_events()
    assert (ROOT / "docs" / "analysis-example.svg").read_text() == example.svg(samples, events)
    kinds = {e["kind"] for e in events if e["type"] == "compensation"}
    assert {"pushing", "breath_hold"} <= kinds
    corrected = {e["kind"] for e in events if e["type"] == "correction"}
    assert {"pushing", "breath_hold"} <= corrected, "both were corrected while they mattered"
