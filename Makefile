# make demo: set up (if needed) and run the bundled example end to end.
# make test: set up (if needed) and run the whole test suite.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-stamp
MODEL := examples/digits_cnn.h5
CALIB := examples/digits_calib.npz
# Debian packages: host compilers, AVR and Arm cross toolchains, simulators.
TOOLS := gcc g++ avr-gcc simavr arm-none-eabi-gcc qemu-system-arm
DEBS := gcc g++ gcc-avr avr-libc simavr gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm

.PHONY: demo test setup system-deps clean

setup: system-deps $(STAMP)

system-deps:
	@missing=""; for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	[ -f /usr/lib/arm-none-eabi/newlib/libc.a ] || missing="$$missing newlib"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages (missing:$$missing)"; \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBS) >/dev/null; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/mcugen build $(MODEL) --board uno --calib $(CALIB)
	$(VENV)/bin/mcugen check $(MODEL) --calib $(CALIB)
	$(VENV)/bin/mcugen verify $(MODEL) --board uno --calib $(CALIB)

test: setup
	$(VENV)/bin/python -m pytest -n 2 -q tests

clean:
	rm -rf build $(VENV)
