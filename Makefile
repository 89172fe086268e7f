# The two quickstart commands (see README): `make run` and `make test`.
# Each creates the virtual environment it needs on first use, from PyPI only.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test bench fast test-fast fast-install container clean

run: $(VENV)/.installed
	$(BIN)/fleetsim run

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/codec.py

# A compiled build (README, "A compiled build"): fleetsim with its hot path
# compiled by mypyc, in a virtual environment of its own (needs a C compiler).
# Built from a copy of the tree: the build writes its compiled files beside the
# sources it compiles, where they would shadow them for `make test`.
FAST_VENV ?= .venv-fast
FAST_SRC  := $(FAST_VENV)/src
fast:
	$(MAKE) --no-print-directory fast-install EXTRAS=bench
	@echo "compiled build: $(FAST_VENV)/bin/fleetsim ($$(PYTHONSAFEPATH=1 $(FAST_VENV)/bin/python -c 'from fleetsim import build; print(build.kind())'))"

# The test suite against the compiled build (CI runs it after `make test`).
# PYTHONSAFEPATH keeps the source tree off sys.path, so fleetsim is the
# compiled one, in the tests and in every process they start.
test-fast:
	$(MAKE) --no-print-directory fast-install EXTRAS=test
	FLEETSIM_EXPECT_BUILD=compiled PYTHONSAFEPATH=1 $(FAST_VENV)/bin/python -m pytest

fast-install:
	test -d $(FAST_VENV) || { $(PYTHON) -m venv $(FAST_VENV) && $(FAST_VENV)/bin/python -m pip install --quiet --upgrade pip; }
	rm -rf $(FAST_SRC) && mkdir -p $(FAST_SRC)
	git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C $(FAST_SRC)
	HATCH_BUILD_HOOK_ENABLE_MYPYC=1 $(FAST_VENV)/bin/python -m pip install --quiet '$(FAST_SRC)[$(EXTRAS)]'

# Builds the Dockerfile with podman on a locally made Debian base and runs it
# (needs root and ../shared/tools/container-proof.sh; used by CI).
container:
	bash ../shared/tools/container-proof.sh . -- run --stations 20 --duration 5s

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.created
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.created
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.created
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) $(FAST_VENV) .pytest_cache .hypothesis build dist *.egg-info
