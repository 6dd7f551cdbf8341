# One-command set-up: every target creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned: 2.13.0 is the CPU build on this machine; an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The main job end to end on the built-in default (MNIST-1D on an STM32F412, 16 KB SRAM / 64 KB flash):
# search, export the best model to int8 .tflite + C and verify it in LiteRT and TFLM, then put it
# through a concept drift with every on-device learning method. Ends by printing the leaderboard.
demo: $(STAMP)
	@set -e; run=runs/demo-$$(date +%Y%m%d-%H%M%S); \
	$(BIN)/tinyml search configs/search/mnist1d_stm32f412.yaml --out $$run/search; \
	$(BIN)/tinyml export $$run/search --out $$run/export; \
	$(BIN)/tinyml simulate-drift configs/drift/mnist1d_permute.yaml --model $$run/search --out $$run/drift; \
	echo; echo "All outputs in $$run/ (search/, export/, drift/). Leaderboard:"; echo; \
	cat $$run/search/leaderboard.md

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

clean:
	rm -rf $(VENV) runs .pytest_cache
