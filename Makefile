# normbench: two commands on a fresh machine.
#   make reproduce   create .venv, install the pinned dependencies, run the whole workflow at tiny scale
#   make test        the test suite (unit tests, lint, paper-scale dry run, tiny workflow end to end)
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.requirements.stamp
# Rules call `python -m ...`: the venv's python must come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: reproduce test venv clean-tiny

venv: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever requirements.txt is newer than the last install.
$(STAMP): requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -r requirements.txt
	touch $(STAMP)

reproduce: $(STAMP)
	$(VENV)/bin/snakemake --profile workflow/profiles/default all
	@echo ""
	@echo "Done. Tables: results/tiny/tables/  figures: results/tiny/figures/"
	@echo "Against the papers: results/tiny/compare/summary.md"

test: $(STAMP)
	$(VENV)/bin/pytest -q -n 2 tests

clean-tiny:
	rm -rf results/tiny
