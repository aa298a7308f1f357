# One entry point for people and CI. `make plan` and `make test` set up .venv themselves.
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
#: the oldest python the node agent (scripts/) runs on; README "The node agent's Python"
NODE_PYTHON := 3.8
NODE_LINT := $(VENV)/node-lint
SHELL_SCRIPTS := $(shell git ls-files '*.sh' 'scripts/ce-node' 'ce-health' '.ci/run' 2>/dev/null)

.PHONY: venv plan test unit lint docs bench mutate

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

## mypy that still targets the node agent's python floor (mypy 2.x starts at 3.10)
$(NODE_LINT)/.installed: requirements-node-lint.txt
	python3 -m venv $(NODE_LINT)
	$(NODE_LINT)/bin/pip install -q -r requirements-node-lint.txt
	touch $@

venv: $(VENV)/.installed

## the main job without a cloud: what `pulumi up` would do for Pulumi.$(STACK).yaml (or examples/$(STACK)/);
## CHANGE=SETTING=VALUE also lists the remote steps that change would run again;
## DEPLOYED=TAG: the CE version the stack runs now (the plan has no state; default: a first deployment);
## DEPLOYED_NODES=N: the number of members it runs now (default: a first deployment);
## REPLACE=ce-N: the remote steps a new instance for that node would run
plan: venv
	$(PY) -m offline.plan --stack $(STACK) $(if $(CHANGE),--change '$(CHANGE)') $(if $(DEPLOYED),--deployed-version '$(DEPLOYED)') $(if $(DEPLOYED_NODES),--deployed-node-count '$(DEPLOYED_NODES)') $(if $(REPLACE),--replace '$(REPLACE)')

## scripts/ (the node agent) also at NODE_PYTHON: ruff via scripts/ruff.toml, vermin, mypy;
## the layers (import-linter contracts in pyproject.toml): who may import whom
lint: venv $(NODE_LINT)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy .
	$(NODE_LINT)/bin/mypy --python-version $(NODE_PYTHON) scripts
	$(VENV)/bin/vermin --quiet --no-tips --violations --target=$(NODE_PYTHON)- scripts
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

## mutation testing of one core module (not part of `make test`): make mutate MODULE=settings [CHILDREN=1]
mutate: venv
	$(PY) -m tools.mutate $(MODULE) $(if $(CHILDREN),--children $(CHILDREN))
