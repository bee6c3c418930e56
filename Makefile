# planktonlm: two commands set everything up.
#   make demo   create .venv, simulate the demo cruise, run the workflow -> results/report.html
#   make test   create/update .venv, run the test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= 2

.PHONY: demo test venv lint clean

venv: $(VENV)/.installed

# Re-install whenever the package metadata or the pinned versions change.
$(VENV)/.installed: pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; planktonlm needs Python 3.11 (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[all,test]'
	touch $@

resources/demo/.complete: $(VENV)/.installed
	$(BIN)/planktonlm simulate --preset demo --seed 1 --outdir resources/demo

demo: $(VENV)/.installed resources/demo/.complete
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --profile workflow/profiles/default --cores $(CORES)
	@echo "planktonlm: demo finished; open results/report.html"

test: $(VENV)/.installed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -q tests

lint: $(VENV)/.installed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --lint

clean:
	rm -rf results .snakemake resources/demo
