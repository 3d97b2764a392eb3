# fgkd: two commands do everything on a fresh machine.
#   make reproduce   bootstrap the virtualenv, then run every notebook at the embedded scale into reports/
#   make test        bootstrap the virtualenv, then run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PARAMS ?= embedded
# Notebooks executed at once (each with its share of the cores); runs they share are trained once.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
# torch and torchvision are installed first, from these specs: on this kind of machine they are
# served from local disk (a CPU-capable build). Override on other machines, e.g.
#   make test TORCH_SPEC="torch==2.9.1 torchvision==0.24.1"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
PY := $(VENV)/bin/python
STAMP := $(VENV)/.fgkd-installed

.PHONY: reproduce test install lab lock clean-reports

install: $(STAMP)

# constraints.txt pins every other dependency to the versions the tests ran with (`make lock` rewrites it).
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

lock: $(STAMP)
	$(PY) scripts/lock_constraints.py

reproduce: $(STAMP)
	$(VENV)/bin/fgkd reproduce --params $(PARAMS) --jobs $(JOBS)

test: $(STAMP)
	$(PY) -m pytest

# JupyterLab on working copies in lab/ (ignored by git): the tracked notebooks stay clean, and what a
# notebook writes (output_dir ".") lands beside its copy. A copy you already have is kept.
lab: $(STAMP)
	@mkdir -p lab
	@for nb in notebooks/*.ipynb; do test -e "lab/$$(basename $$nb)" || cp "$$nb" lab/; done
	$(VENV)/bin/jupyter lab lab/

clean-reports:
	rm -rf reports/$(PARAMS)
