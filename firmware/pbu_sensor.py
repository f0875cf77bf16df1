# RugCoach reference sensor: conversion and line formatting (pure; runs on MicroPython and on the
# host, where tests/test_firmware.py checks it against the box's own line parser).
#
# Sensor: NXP MPX5050GP, gauge pressure 0-50 kPa (0-375 mmHg), supplied from the Pico's VBUS (5 V).
#   Vout = Vs * (0.018 * P_kPa + 0.04)        (datasheet transfer function)
# Both Vout and Vs reach the ADC through identical 10k/22k dividers, so the ratio Vout/Vs is
# independent of the divider and of the USB supply voltage (ratiometric measurement).

KPA_TO_MMHG = 7.500617
OFFSET_RATIO = 0.04
SLOPE_PER_KPA = 0.018


def ratio_to_kpa(ratio):
    """The MPX5050's transfer function, inverted: Vout/Vs -> kPa."""
    return (ratio - OFFSET_RATIO) / SLOPE_PER_KPA


def reading_to_mmhg(signal_u16, supply_u16, zero_mmhg=0.0):
    """Two ADC readings (read_u16 sums or means of the same count) -> mmHg."""
    if supply_u16 <= 0:
        return None
    return ratio_to_kpa(signal_u16 / supply_u16) * KPA_TO_MMHG - zero_mmhg


def mean(values):
    return sum(values) / len(values)


def format_line(t_ms, mmhg):
    """One sample as the box reads it: `t_ms,mmHg` (t_ms wraps at 2^32, as the box expects)."""
    return "%d,%.2f" % (t_ms & 0xFFFFFFFF, mmhg)


def format_message(text):
    """A device message: the box logs lines starting with '#'."""
    return "# " + text
