# The two commands from a fresh clone:
#   make run    set everything up and run the app with demo data on SQLite
#   make test   set everything up and run the whole test suite
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1
VENDOR := webapp/static/vendor/bpmn-js

.PHONY: FORCE run serve test setup python-deps vendor translations system-deps db lint clean

run: setup db
	$(BIN)/flask --app webapp demo --if-empty
	@echo "Liandong on http://$(HOST):$(PORT)/ - log in as office, bank_icbc, court, ... (password above)"
	@# the worker (both lanes) runs beside the web server; when either ends, or make gets
	@# SIGTERM or Ctrl-C, both are stopped. Both run in the background because bash runs a
	@# trap only after its foreground command ends, and make forwards SIGTERM to bash alone.
	$(BIN)/flask --app webapp worker --lane all & worker=$$!; \
	  $(BIN)/flask --app webapp run --host $(HOST) --port $(PORT) & server=$$!; \
	  trap 'kill $$worker $$server 2>/dev/null; wait' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	  wait -n

# Production shape (docs/PRODUCTION.md): gunicorn and a worker per lane (timers, ledger) against DATABASE_URL,
#   make serve DATABASE_URL=postgresql+psycopg://liandong@db.example/liandong
# The schema is migrated and case states upgraded first; the three stop together (SIGTERM,
# Ctrl-C, or one of them ending), so a long ledger import never holds a deadline back.
WORKERS ?= 2
THREADS ?= 4
# the path without its query string: a search by identifier must not land in the log
ACCESS_LOG_FORMAT := %(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(D)sus
serve: setup
	@test -n "$(DATABASE_URL)" || { echo "set DATABASE_URL=postgresql+psycopg://user@host/db"; exit 2; }
	LIANDONG_DATABASE_URL='$(DATABASE_URL)' $(BIN)/alembic upgrade head
	LIANDONG_DATABASE_URL='$(DATABASE_URL)' $(BIN)/flask --app webapp cases upgrade-state
	export LIANDONG_DATABASE_URL='$(DATABASE_URL)'; \
	  $(BIN)/flask --app webapp worker --lane timers & timers=$$!; \
	  $(BIN)/flask --app webapp worker --lane ledger & ledger=$$!; \
	  $(BIN)/gunicorn --workers $(WORKERS) --threads $(THREADS) \
	    --bind $(HOST):$(PORT) --access-logfile - --access-logformat '$(ACCESS_LOG_FORMAT)' \
	    'webapp:create_app()' & server=$$!; \
	  trap 'kill $$timers $$ledger $$server 2>/dev/null; wait' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	  wait -n

test: setup system-deps
	$(BIN)/ruff check .
	$(BIN)/pytest

setup: python-deps vendor translations

# The interpreter: the system's CPython where it is 3.11 or newer (Debian builds it with
# profile-guided and link-time optimization: a step runs about 20 % faster than on a plain
# source build, docs/PERFORMANCE.md), else the first python3 on PATH. A venv made by another
# interpreter is made again.
PYTHON ?= $(shell for p in /usr/bin/python3 python3; do \
  $$p -c 'import sys, ensurepip, venv; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo $$p; break; }; done)

python-deps: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml $(VENV)/.interpreter
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# rewritten (so the venv is made again) only when PYTHON names another interpreter
$(VENV)/.interpreter: FORCE
	@test -n "$(PYTHON)" || { echo "no python3 >= 3.11 with venv found; set PYTHON=..."; exit 2; }
	@want=$$($(PYTHON) -c 'import sys; print(sys.executable)'); \
	  if [ "$$(cat $@ 2>/dev/null)" != "$$want" ]; then \
	    rm -rf $(VENV); mkdir -p $(VENV); echo "$$want" > $@; fi

FORCE:

# bpmn-js and ECharts come from the npm registry and are served by the app itself (no CDN)
vendor: $(VENDOR)/.stamp
$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js $(VENDOR)/
	cp -r node_modules/bpmn-js/dist/assets $(VENDOR)/
	# Apache ECharts draws the statistics page's charts (webapp/static/js/stats.js)
	mkdir -p webapp/static/vendor/echarts
	cp node_modules/echarts/dist/echarts.min.js webapp/static/vendor/echarts/
	touch $@

translations: python-deps
	$(BIN)/pybabel -q compile -d webapp/translations

# Debian's Chromium drives the browser tests (Playwright's own download does not work here)
system-deps:
	@command -v chromium >/dev/null 2>&1 && dpkg -s fonts-noto-cjk >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium and a CJK font (Chinese pages) for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
	  || echo "WARNING: chromium could not be installed; browser tests will be skipped"; }

# the schema, then every stored case state through the engine's serializer (stalled cases
# repaired; a second run has nothing to do)
db: python-deps
	$(BIN)/alembic upgrade head
	$(BIN)/flask --app webapp cases upgrade-state

lint: python-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check webapp tests
	$(BIN)/mypy webapp

clean:
	rm -rf $(VENV) node_modules $(VENDOR) instance
