# Two commands for a newcomer on a fresh machine:
#   make demo   create .venv, install ModelMint with its demo extra, run `modelmint demo`
#   make test   install the dev tools too, then lint, check imports, and run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch goes in the same pip command as everything that depends on it (CPU wheel, no CUDA pull)
TORCH  := torch==2.13.0

.PHONY: demo test check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	@echo "Installing ModelMint with its demo extra into $(VENV) (a few minutes the first time)..."
	$(BIN)/pip install -qq -e ".[demo]" "$(TORCH)"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	@echo "Installing ModelMint with its demo and dev extras into $(VENV)..."
	$(BIN)/pip install -qq -e ".[demo,dev]" "$(TORCH)"
	touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(BIN)/modelmint demo

test: $(VENV)/.installed-dev
	scripts/install-browser
	scripts/test

# the benchmark peers (SetFit) on top of the dev install; then e.g. `make bench B=b3_transfer`
bench: $(VENV)/.installed-dev
	$(BIN)/pip install -qq -e ".[demo,dev,bench]" "$(TORCH)"
	$(BIN)/python benchmarks/$(or $(B),b3_transfer).py

check: $(VENV)/.installed-dev
	scripts/check

clean:
	rm -rf $(VENV) modelmint-demo .pytest_cache .ruff_cache
