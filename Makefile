# make demo: set up .venv and run the main job on the embedded default model.
# make test: set up .venv and run the whole test suite, in two worker processes (pytest-xdist; the machine has 2 cores).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgeq-installed

.PHONY: setup demo test test-fast clean bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,nlp,lab,release]'
	touch $(STAMP)

demo: setup
	$(BIN)/edgeq run zoo:digits-cnn --profile host

test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=15

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# make bench: time every zoo model on PyTorch eager, torch.ao, ExecuTorch and ONNX Runtime (1 thread), fp32 and
# int8, the int8 LSTM lowered several ways and int8 Linears against fp32; writes benchmarks/results/*.json and
# docs/benchmarks.md (~25 min on 2 cores).
BENCH_STAMP := $(VENV)/.edgeq-bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[bench]'
	touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) edgeq-out .pytest_cache
