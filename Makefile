# The two quickstart commands (see README): `make run` and `make test`.
# Each creates the virtual environment it needs on first use, from PyPI only.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test bench container clean

run: $(VENV)/.installed
	$(BIN)/fleetsim run

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/codec.py

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
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info
