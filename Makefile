# The few commands a person types. Everything lives in .venv; nothing is installed globally.
#   make install   create .venv, install torch and the package, build the extension vsr._C
#   make test      run the test suite (installs first if needed)
#   make demo      upscale a generated sample clip with the shipped checkpoint
#   make bench     run the operator benchmark
#   make lint      ruff

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The torch release this project is developed and tested with.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
# Rebuild the extension when any of its sources change.
EXT_SOURCES := setup.py $(wildcard vsr/csrc/*.cpp vsr/csrc/*.h vsr/csrc/cpu/*.cpp vsr/csrc/cuda/*.cu)

.PHONY: install test demo bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(EXT_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel ninja
	$(PY) -m pip install $(TORCH_PINS)
	# No build isolation: the extension must compile against the torch installed above.
	$(PY) -m pip install --no-build-isolation -e ".[dev]"
	$(PY) -m vsr.ops
	touch $@

test: install
	$(PY) -m pytest

demo: install
	$(PY) scripts/demo.py

bench: install
	$(PY) benchmarks/bench_dcn.py

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf build *.egg-info vsr/_C*.so $(VENV)/.installed
