# make demo: set up .venv and run the main job on the embedded default model.
# make test: set up .venv and run the whole test suite, in two worker processes (pytest-xdist; the machine has 2 cores).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgeq-installed

.PHONY: setup demo test test-fast clean bench bench-llama-native

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
# int8, the int8 LSTM lowered several ways, int8 Linears against fp32, and two language models in edgeq's .pte
# against llama.cpp and ONNX Runtime GenAI (1 thread and every core); writes benchmarks/results/*.json and
# docs/benchmarks.md (~25 min on 2 cores, and ~30 more for the language models; their exports are cached).
# The language models alone: .venv/bin/python -m benchmarks.llm
BENCH_STAMP := $(VENV)/.edgeq-bench-installed

# The bench extra's llama-cpp-python compiles llama.cpp from source (about 5 min on 2 cores). GGML_NATIVE=OFF makes
# the portable build (AVX2, FMA, F16C; no AVX-512), not one tuned to the building CPU.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF

$(BENCH_STAMP): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --disable-pip-version-check -e '.[bench]'
	touch $(BENCH_STAMP)

bench: setup $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

# Optional: llama-cpp-python compiled for this CPU (GGML_NATIVE=ON: AVX-512, VNNI where the CPU has them), kept apart
# from the venv; when it is there, `make bench` also times llama.cpp's GGUFs with it (benchmarks/llm_programs.py).
LLAMA_NATIVE := $(or $(EDGEQ_BENCH_LLAMA_NATIVE),$(or $(EDGEQ_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/edgeq)/bench-llama-cpp-native)
LLAMA_CPP_PYTHON := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml)

bench-llama-native: setup
	CMAKE_ARGS="-DGGML_NATIVE=ON" $(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-cache-dir \
		--upgrade --no-binary llama-cpp-python --target $(LLAMA_NATIVE) '$(LLAMA_CPP_PYTHON)'

clean:
	rm -rf $(VENV) edgeq-out .pytest_cache
