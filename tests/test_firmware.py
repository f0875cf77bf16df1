"""The reference sensor's conversion and formatting, run on the host (firmware/pbu_sensor.py)."""

from __future__ import annotations

import importlib.util

import pytest

from coach.adapters.serial_sensor import parse_line
from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("pbu_sensor", ROOT / "firmware" / "pbu_sensor.py")
fw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fw)


def vout_ratio(mmhg):
    return 0.018 * (mmhg / fw.KPA_TO_MMHG) + 0.04


@pytest.mark.parametrize("mmhg", [0.0, 40.0, 70.0, 200.0])
def test_the_transfer_function_round_trips(mmhg):
    supply = 50_000.0
    assert fw.reading_to_mmhg(vout_ratio(mmhg) * supply, supply) == pytest.approx(mmhg, abs=1e-6)


def test_the_reading_is_independent_of_the_usb_supply():
    for supply in (45_000.0, 50_000.0, 54_000.0):  # VBUS from 4.5 to 5.4 V
        assert fw.reading_to_mmhg(vout_ratio(70) * supply, supply) == pytest.approx(70.0)


def test_resolution_is_well_under_one_mmhg():
    # 12-bit ADC scaled to 16 bits (steps of 16), supply at 5 V through the 22/32 divider
    supply = 5.0 * 22 / 32 / 3.3 * 65535
    step = fw.reading_to_mmhg(vout_ratio(70) * supply + 16, supply) - 70.0
    assert 0 < step < 0.2


def test_lines_are_what_the_box_reads():
    line = fw.format_line(123456, 69.987)
    assert line == "123456,69.99"
    assert parse_line(line.encode()) == (123456, 69.99)
    wrapped = fw.format_line(2 ** 32 + 5, 70.0)
    assert parse_line(wrapped.encode()) == (5, 70.0)
    assert fw.format_message("hello").startswith("#")
    assert fw.reading_to_mmhg(1000, 0) is None
