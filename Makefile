# RugCoach: `make demo` and `make test` set up everything they need on Debian / Raspberry Pi OS.
# A second run installs nothing: Debian packages are checked with dpkg, the virtual environment
# is rebuilt only when pyproject.toml changes.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

DEB_RUN := espeak-ng libportaudio2 libasound2-plugins python3-venv libpq5
DEB_TEST := $(DEB_RUN) pulseaudio pulseaudio-utils sox chromium libatomic1 jackd2 systemd postgresql openssl

.PHONY: demo test test-fast lint bench deps-run deps-test clean install uninstall

demo: deps-run $(VENV)/.installed
	$(VENV)/bin/rugcoach demo

# Four workers on two cores: most tests wait (browsers, pseudo-terminals, subprocesses, real
# time), and each is correct on a loaded machine; the long ones are dealt out evenly first
# (tests/conftest.py) and an idle worker takes work from a busy one (worksteal).
# The tests of real-time sound (a PulseAudio sink heard at the moment the events say) then run
# apart from the rest, two at a time, each with its own sound server: on a busy machine the sound
# server itself falls behind, which is the machine, not the coach.
test: deps-test $(VENV)/.installed lint
	$(VENV)/bin/python -m pytest -q -n 4 --dist worksteal -m "not audio"
	$(VENV)/bin/python -m pytest -q -n 2 -m audio

# the pure core and the quick checks, in under a minute: what to run while working
test-fast: $(VENV)/.installed lint
	$(VENV)/bin/python -m pytest -q -m "not slow"

# ruff (pyflakes, pycodestyle, import order, bugbear, pyupgrade) and pyright (basic), both clean
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check coach tests bench docs
	$(VENV)/bin/pyright

bench: deps-test $(VENV)/.installed
	$(VENV)/bin/python bench/run.py

deps-run:
	@bash scripts/install-debs.sh $(DEB_RUN)

deps-test:
	@bash scripts/install-debs.sh $(DEB_TEST)

$(VENV)/.installed: pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	@touch $@

# sudo make install: packages, the rugcoach user, /opt/rugcoach, the unit and a default config,
# enabled and started. sudo make uninstall keeps the records (PURGE=yes removes them too).
install:
	@bash scripts/install.sh install

uninstall:
	@bash scripts/install.sh uninstall

clean:
	rm -rf $(VENV) demo.wav .pytest_cache
