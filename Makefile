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

# the benchmark peers on top of the dev install; then e.g. `make bench B=b3_transfer`.
# B1 and B5 drive load with wrk (Debian); B1's BentoML peer and B6's Evidently and NannyML
# peers live in their own venvs (their pins clash with ours).
bench: $(VENV)/.installed-dev
	$(BIN)/pip install -qq -e ".[demo,dev,bench]" "$(TORCH)"
	@command -v wrk >/dev/null || apt-get install -y -qq wrk || sudo apt-get install -y -qq wrk
	@if [ "$(B)" = "b1_serving" ]; then $(MAKE) .venv-bentoml/bin/bentoml; fi
	@if [ "$(B)" = "b6_monitor" ]; then $(MAKE) .venv-evidently/bin/python .venv-nannyml/bin/python; fi
	$(BIN)/python benchmarks/$(or $(B),b3_transfer).py

.venv-bentoml/bin/bentoml:
	$(PYTHON) -m venv .venv-bentoml
	.venv-bentoml/bin/pip install -qq bentoml onnx onnxruntime transformers "$(TORCH)"

# B6's Evidently peer needs pandas < 3 and NannyML plotly < 6: each gets its own venv too
.venv-evidently/bin/python:
	$(PYTHON) -m venv .venv-evidently
	.venv-evidently/bin/pip install -qq "evidently==0.7.23" "pandas<3"

.venv-nannyml/bin/python:
	$(PYTHON) -m venv .venv-nannyml
	.venv-nannyml/bin/pip install -qq "nannyml==0.13.1" statsmodels

check: $(VENV)/.installed-dev
	scripts/check

clean:
	rm -rf $(VENV) modelmint-demo .pytest_cache .ruff_cache
