# make demo: set up (if needed) and run the bundled example end to end.
# make test: set up (if needed) and run the whole test suite.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed-stamp
MODEL := examples/digits_cnn.h5
CALIB := examples/digits_calib.npz

.PHONY: demo test setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v gcc >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1 || { echo "installing gcc and g++"; apt-get update -qq && apt-get install -y -qq gcc g++ >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/mcugen build $(MODEL) --board uno --calib $(CALIB)
	$(VENV)/bin/mcugen check $(MODEL) --calib $(CALIB)

test: setup
	$(VENV)/bin/python -m pytest -n 2 -q tests

clean:
	rm -rf build $(VENV)
