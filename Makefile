# The two commands on a fresh machine: `make demo` and `make test` (each sets up first).
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
# python3.10 from PATH if it runs, else pyenv's (lava-nc 0.10.0 needs exactly 3.10).
PYTHON310 := $(shell for p in python3.10 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 2>/dev/null); do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo $$p; break; }; done)
PY := $(VENV)/bin/python

.PHONY: setup demo test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON310)" || { echo "error: python3.10 not found (lava-nc 0.10.0 needs Python 3.10); install it, e.g. 'pyenv install 3.10'" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24" 
	$(PY) -m pip install -q -e ".[test]"
	@# Sinabs (NIR round-trip tests) declares nir<=1.0.4 and samna, whose PyPI package fetches a binary from another
	@# index when imported; sinabs.from_nir/to_nir need neither, so it is installed without its declared dependencies.
	$(PY) -m pip install -q --no-deps "sinabs==3.1.3" "pbr==7.0.3"
	@# NeuroBench (the oracle of the NeuroBench-named metrics) declares torchaudio, tonic, numba and llvmlite; its
	@# metric code needs only torch and snnTorch, and its torchaudio pin would pull another torch: no declared deps.
	$(PY) -m pip install -q --no-deps "neurobench==2.3.0"
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/snnpar demo --out reports/demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/run_all.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) reports runs
