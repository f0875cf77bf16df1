# RugCoach reference sensor for a Raspberry Pi Pico (MicroPython). Copy pbu_sensor.py and this
# file to the Pico (e.g. `mpremote cp firmware/*.py :`); it then prints `t_ms,mmHg` lines at
# 50 Hz on its USB serial port, which the box opens as /dev/ttyACM0.
#
# Wiring (docs/sensor.md): MPX5050GP Vs <- VBUS (pin 40), GND <- GND (pin 38);
# Vout -> 10k -> GP26/ADC0 (pin 31), 22k from GP26 to GND;
# VBUS -> 10k -> GP27/ADC1 (pin 32), 22k from GP27 to GND.
import sys
import time

import machine

from pbu_sensor import format_line, format_message, mean, reading_to_mmhg

RATE_HZ = 50
OVERSAMPLE = 16          # averaged ADC readings per sample: about 4x less noise
SIGNAL = machine.ADC(26)
SUPPLY = machine.ADC(27)
LED = machine.Pin(25, machine.Pin.OUT)


def sample():
    signal = mean([SIGNAL.read_u16() for _ in range(OVERSAMPLE)])
    supply = mean([SUPPLY.read_u16() for _ in range(OVERSAMPLE)])
    return reading_to_mmhg(signal, supply)


def main():
    sys.stdout.write(format_message("RugCoach PBU sensor 1.0, MPX5050GP, mmHg, %d Hz\n" % RATE_HZ))
    period = 1000 // RATE_HZ
    next_at = time.ticks_ms()
    count = 0
    while True:
        now = time.ticks_ms()
        if time.ticks_diff(now, next_at) < 0:
            time.sleep_ms(1)
            continue
        next_at = time.ticks_add(next_at, period)
        value = sample()
        if value is not None:
            sys.stdout.write(format_line(now, value) + "\n")
        count += 1
        LED.value((count // RATE_HZ) % 2)  # blinks once a second while sending


main()
