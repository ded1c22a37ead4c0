# gtmflow: two commands for a fresh machine with only Python 3.11+ (`make demo`, `make test`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TC     := build/typecheck

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip >/dev/null

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install -e '.[dev]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed  ## generate a sample world, run the three classic rules offline
	$(BIN)/gtmflow demo --dir build/demo

test: lint typecheck pytest  ## ruff, mypy -p gtmflow, pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy cannot follow setuptools' editable import hook for the package-dir mapping
# (gtmflow.tools -> tools/), so it checks a tree of symlinks laid out as the installed package.
typecheck: $(VENV)/.installed-dev
	@rm -rf $(TC) && mkdir -p $(TC)/gtmflow
	@for f in gtmflow/*.py gtmflow/py.typed; do ln -s $(CURDIR)/$$f $(TC)/gtmflow/; done
	@for d in agents graphs tools prompts examples; do ln -s $(CURDIR)/$$d $(TC)/gtmflow/$$d; done
	cd $(TC) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p gtmflow

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -q

bench: $(VENV)/.installed-dev  ## speed and memory figures -> benchmarks/RESULTS.md
	$(BIN)/python benchmarks/run.py --write benchmarks/RESULTS.md

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
