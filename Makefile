# normbench: two commands on a fresh machine.
#   make reproduce   create .venv, install the pinned dependencies, run the whole workflow at tiny scale
#   make test        the test suite (unit tests, lint, paper-scale dry run, tiny workflow end to end)
#   make parity      tests/parity/ against fairseq, timm and admin-torch, in .venv-parity
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.requirements.stamp
# Rules call `python -m ...`: the venv's python must come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: reproduce test venv clean-tiny lock parity

venv: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever requirements.txt, the lock or pyproject.toml is newer than the last install.
# constraints.txt pins the whole resolved set (not only requirements.txt's top level), so two
# users get the same versions; the project itself is installed editable (`import models` etc.).
$(STAMP): requirements.txt constraints.txt pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -c constraints.txt -r requirements.txt
	$(VENV)/bin/python -m pip install -c constraints.txt --no-deps -e .
	touch $(STAMP)

# Regenerate the lock after changing requirements.txt (then `make venv` installs from it).
# Installs requirements.txt without the old lock (its new pins may conflict with it), then
# writes the resolved closure.
lock: | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -r requirements.txt
	$(VENV)/bin/python envs/lock.py > constraints.txt.tmp && mv constraints.txt.tmp constraints.txt

reproduce: $(STAMP)
	$(VENV)/bin/snakemake --profile workflow/profiles/default all
	@echo ""
	@echo "Done. Tables: results/tiny/tables/  figures: results/tiny/figures/"
	@echo "Against the papers: results/tiny/compare/summary.md"

test: $(STAMP)
	$(VENV)/bin/pytest -q -n 2 tests

# Parity with the reference implementations (tests/parity/, docs/reference_code.md).
# .venv-parity is layered over .venv: a .pth file adds .venv's site-packages after its own, so the
# project's pinned packages are exactly those of `make test`, and the reference packages
# (requirements-parity.txt, fairseq-fixed) go into .venv-parity only. fairseq-fixed ships no wheel:
# its source build (cython + wheel first, no build isolation; minutes of C++ on 2 cores) is kept in
# .venv-parity/wheels, so a later `make parity` (or a rebuilt stamp) installs it without compiling.
PARITY := .venv-parity
PARITY_STAMP := $(PARITY)/.parity.stamp
FAIRSEQ := fairseq-fixed==0.12.3.1

$(PARITY)/bin/python: | $(STAMP)
	$(VENV)/bin/python -m venv $(PARITY)
	echo "import site; site.addsitedir('$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')')" \
	  > "$$($(PARITY)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/normbench_main_venv.pth"

$(PARITY_STAMP): requirements.txt requirements-parity.txt $(STAMP) | $(PARITY)/bin/python
	$(PARITY)/bin/python -m pip install cython==3.3.1 wheel==0.48.0
	ls $(PARITY)/wheels/fairseq_fixed-0.12.3.1-*.whl >/dev/null 2>&1 || \
	  $(PARITY)/bin/python -m pip wheel --no-build-isolation --no-deps -w $(PARITY)/wheels $(FAIRSEQ) || \
	  { echo "make parity: building $(FAIRSEQ) from source failed (pip's output above). It compiles" \
	      "C/C++ extensions against torch and the Python headers: install a C++ compiler and the headers" \
	      "of this Python (Debian/Ubuntu: apt-get install g++ python3-dev), then run make parity again." >&2; exit 1; }
	$(PARITY)/bin/python -m pip install --no-deps --no-index --find-links $(PARITY)/wheels $(FAIRSEQ)
	$(PARITY)/bin/python -m pip install --no-deps -r requirements-parity.txt
	touch $(PARITY_STAMP)

# NORMBENCH_PARITY=1: a missing reference package, or any skip in tests/parity/, fails the run
# (under `make test` those tests skip with a reason naming `make parity`; tests/parity/conftest.py).
parity: $(PARITY_STAMP)
	NORMBENCH_PARITY=1 $(PARITY)/bin/python -m pytest -q -p no:cacheprovider tests/parity

clean-tiny:
	rm -rf results/tiny
