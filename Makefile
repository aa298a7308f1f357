# One entry point for people and CI. `make plan` and `make test` set up .venv themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
SHELL_SCRIPTS := $(shell git ls-files '*.sh' 'scripts/ce-node' 'ce-health' '.ci/run' 2>/dev/null)

.PHONY: venv plan test unit lint docs bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## the main job without a cloud: what `pulumi up` would do for Pulumi.$(STACK).yaml (or examples/$(STACK)/)
plan: venv
	$(PY) -m offline.plan --stack $(STACK)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/shellcheck $(SHELL_SCRIPTS)
	$(PY) -m tools.doc_tables --check

## every test: unit (mocks), node scripts, health, stand-in CE, and real hosts (root only)
test: lint
	$(PY) -m pytest

## fast loop without the booted hosts
unit: venv
	$(PY) -m pytest -m "not hosts"

docs: venv
	$(PY) -m tools.doc_tables
