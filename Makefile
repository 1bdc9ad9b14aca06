# Two commands on a fresh clone: `make test` and `make run`.
# PYTHON picks the interpreter (make test PYTHON=python3.12); the venv follows it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
# A pyenv shim refuses a version that is installed but not selected: fall back to the
# interpreter inside pyenv's versions directory (python3.12 -> versions/3.12.*/bin).
PY := $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null || \
	ls -d "$$(pyenv root 2>/dev/null)"/versions/$(patsubst python%,%,$(notdir $(PYTHON))).*/bin/$(notdir $(PYTHON)) 2>/dev/null | tail -n 1)
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

AZURITE := .tools/azurite/node_modules/.bin/azurite-table

.PHONY: venv venv-run azurite iac bench test test-slow lint typecheck format schema screenshot run bench-runtime bench-host clean

# Recreated when the interpreter's version changes; reinstalled when a requirements file
# or a pyproject.toml changes (a stamp named after their hash). The embedded Functions
# runtime (runtime/, its own distribution) is installed editable, so the tests, `make run`
# and the processes they start import it from anywhere.
define create_venv
	@[ -n "$(PY)" ] || { echo "no interpreter for PYTHON=$(PYTHON)" >&2; exit 1; }; \
	want=$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])') || exit 1; \
	have=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true); \
	if [ "$$want" != "$$have" ]; then \
		echo "creating $(VENV) with Python $$want"; rm -rf $(VENV); $(PY) -m venv $(VENV) || exit 1; \
	fi
endef

# What running needs (`make run`, the command line in $(BIN)/singleton-starters): the app's
# pinned requirements, this package with its command line, the runtime. No test tools.
venv-run:
	$(create_venv)
	@stamp=$(VENV)/.installed-run-$$(cat requirements.txt pyproject.toml runtime/pyproject.toml | sha256sum | cut -c1-16); \
	dev=$(VENV)/.installed-dev-$$(cat requirements.txt requirements-dev.txt pyproject.toml runtime/pyproject.toml | sha256sum | cut -c1-16); \
	if [ ! -f $$stamp ] && [ ! -f $$dev ]; then \
		$(BIN)/python -m pip install --quiet -r requirements.txt -e '.[cli]' -e runtime && \
		rm -f $(VENV)/.installed-run-* && touch $$stamp; \
	fi

# Everything: what running needs, and the tools and tests (requirements-dev.txt).
venv:
	$(create_venv)
	@stamp=$(VENV)/.installed-dev-$$(cat requirements.txt requirements-dev.txt pyproject.toml runtime/pyproject.toml | sha256sum | cut -c1-16); \
	if [ ! -f $$stamp ]; then \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e '.[cli]' && \
		$(BIN)/python -m pip install --quiet -e runtime && \
		rm -f $(VENV)/.installed-* && touch $$stamp; \
	fi

# Azurite (the Table storage emulator) for the outcome store's tests: from npm, pinned to
# the newest release that runs on Node 20.
azurite: $(AZURITE)
$(AZURITE):
	@command -v npm >/dev/null || { echo "npm (Node 20) is needed to install Azurite" >&2; exit 1; }
	npm install --prefix .tools/azurite --no-audit --no-fund --silent azurite@3.35.0

# The deployment's checks in their own environment: every rule for both Durable backends
# (check_infra.py), each rule broken on purpose and caught (negative_cases.py), checkov.
IAC_VENV := .venv-iac
iac:
	@[ -n "$(PY)" ] || { echo "no interpreter for PYTHON=$(PYTHON)" >&2; exit 1; }; \
	stamp=$(IAC_VENV)/.installed-$$(sha256sum requirements-iac.txt | cut -c1-16); \
	if [ ! -f $$stamp ]; then \
		rm -rf $(IAC_VENV) && $(PY) -m venv $(IAC_VENV) && \
		$(IAC_VENV)/bin/python -m pip install --quiet --upgrade pip && \
		$(IAC_VENV)/bin/python -m pip install --quiet -r requirements-iac.txt && touch $$stamp; \
	fi
	$(IAC_VENV)/bin/python infra/checks/check_infra.py
	$(IAC_VENV)/bin/python infra/checks/negative_cases.py
	$(IAC_VENV)/bin/checkov --directory infra --framework bicep --skip-download --compact --quiet --hard-fail-on LOW,MEDIUM,HIGH,CRITICAL

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy starters runtime/embedded_functions runtime/emulator bench --exclude 'bench/apps/'

test: lint typecheck azurite iac
	AZURITE_TABLE=$(AZURITE) $(BIN)/python -m pytest $(PYTEST_ARGS)

# Long fault and soak variants (marker `slow`), and the property suites' thorough profile
# (2,000 cases a hostile-input property: over 10,000 in all).
test-slow: venv azurite
	AZURITE_TABLE=$(AZURITE) HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest -m slow $(PYTEST_ARGS)
	AZURITE_TABLE=$(AZURITE) HYPOTHESIS_PROFILE=thorough $(BIN)/python -m pytest tests/test_bad_input.py tests/test_hostile_input.py tests/test_hostile_input_on_the_host.py $(PYTEST_ARGS)

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The published JSON Schema is generated from the registry; a test keeps them in step.
schema: venv
	$(BIN)/python -m starters schema --output schemas/start-request.schema.json
	$(BIN)/python -m starters openapi --output schemas/openapi.json

# docs/dashboard.png: the dashboard with a few IDs in different states, in Debian's chromium.
screenshot: venv
	$(BIN)/python -m tests.dashboard_screenshot --output docs/dashboard.png

# Serves this app on http://127.0.0.1:$(PORT) with the embedded runtime, state in .emulator/
# (where it publishes runtime.json: the command line finds it there). `make run PORT=7072`.
PORT ?= 7071
run: venv-run
	@[ -f local.settings.json ] || cp local.settings.json.template local.settings.json
	$(BIN)/python -m embedded_functions serve --script-root . --port $(PORT) --data-dir .emulator

# The proof: the queued starter against the naive check-then-start function
# (bench/results.json, docs/comparison.md and .png); QUICK=1 for a short run.
bench: venv
	$(BIN)/python -m bench.compare $(if $(QUICK),--quick,)

# The embedded Durable runtime's throughput and latency (writes docs/durable-runtime-benchmark.json).
# State in .emulator-bench/ here (the command resolves it against this folder), removed after.
BENCH_RUNTIME_ARGS ?=
bench-runtime: venv
	rm -rf .emulator-bench
	$(BIN)/python -m bench.durable_runtime --data-dir .emulator-bench --output docs/durable-runtime-benchmark.json $(BENCH_RUNTIME_ARGS)
	rm -rf .emulator-bench

# The local host end to end (writes docs/local-host-benchmark.json).
bench-host: venv
	$(BIN)/python -m bench.local_host --output docs/local-host-benchmark.json

clean:
	rm -rf $(VENV) $(IAC_VENV) .tools .pytest_cache .mypy_cache .ruff_cache
