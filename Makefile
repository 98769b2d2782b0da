# make demo: set up (if needed) and run the bundled example end to end.
# make test: set up (if needed) and run the whole test suite.
# make bench: set up (if needed) and measure speed and size in the simulators
#   (the MLPerf Tiny .tflite files in $(MCUGEN_MLPERF_DIR) on qemu_m4 and qemu_m3,
#   the bundled example on the Uno): reports in build/bench/. Not part of test.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-stamp
MODEL := examples/digits_cnn.h5
CALIB := examples/digits_calib.npz
# Debian packages: host compilers, AVR and Arm cross toolchains, simulators.
TOOLS := gcc g++ avr-gcc simavr arm-none-eabi-gcc qemu-system-arm
DEBS := gcc g++ gcc-avr avr-libc simavr gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
# The MLPerf Tiny reference models (data only, never committed).
MCUGEN_MLPERF_DIR ?= ../shared/models/mlperf-tiny
BENCH_DIR := build/bench
BENCH_BOARDS := qemu_m4 qemu_m3
# The bundled examples benched on the Uno: model:calibration pairs.
AVR_BENCH := examples/digits_cnn.h5:examples/digits_calib.npz examples/digits_mlp.h5:examples/digits_mlp_calib.npz \
	examples/timeseries_cnn.h5:examples/timeseries_calib.npz

.PHONY: demo test bench fuzz setup system-deps clean

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

bench: setup
	@mkdir -p $(BENCH_DIR)
	@status=0; \
	for pair in $(AVR_BENCH); do \
		m=$${pair%%:*}; stem=$$(basename $$m .h5); \
		$(VENV)/bin/mcugen bench $$m --board uno --calib $${pair#*:} --layers \
			--plot $(BENCH_DIR)/uno-$$stem.png --save $(BENCH_DIR)/uno-$$stem.json || status=1; \
	done; \
	models="$$(ls $(MCUGEN_MLPERF_DIR)/*.tflite 2>/dev/null)"; \
	if [ -z "$$models" ]; then \
		echo "make bench: no .tflite files in $(MCUGEN_MLPERF_DIR): skipping the MLPerf Tiny models (MCUGEN_MLPERF_DIR=folder)"; \
	else \
		for b in $(BENCH_BOARDS); do \
			$(VENV)/bin/mcugen bench $$models --board $$b --layers \
				--plot $(BENCH_DIR)/mlperf-tiny-$$b.png --save $(BENCH_DIR)/mlperf-tiny-$$b.json || status=1; \
		done; \
	fi; \
	echo "make bench: reports in $(BENCH_DIR)/"; \
	exit $$status

# The long seeded fuzz campaign (`make test` runs a slice, tests/test_fuzz.py):
# FUZZ_COUNT inputs of each format (.tflite, .h5, .keras, calibration data)
# under tests/fuzz.py's rules: seeds and harmless mutants accepted, accepted
# .tflite files equal to TFLM, refusals for a reason of tests/refusal_reasons.py.
FUZZ_COUNT ?= 2000
fuzz: setup
	$(VENV)/bin/python -m tests.fuzz --count $(FUZZ_COUNT) --seed 0

clean:
	rm -rf build $(VENV)
