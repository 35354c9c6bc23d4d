# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Each creates .venv and installs the pinned dependencies on first use.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install demo test lint bench quality assets clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip check
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/zaobot demo --output out/demo.mp4

test: $(STAMP)
	$(PY) -m pytest

# ruff and mypy, configured in pyproject.toml; CI runs this before the tests.
lint: $(STAMP)
	$(PY) -m ruff check zaobot tests benchmarks scripts
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) benchmarks/render.py

# Swap quality on real selfies and real footage: prints the table, writes contact sheets to out/quality/.
quality: $(STAMP)
	$(PY) benchmarks/quality.py

assets: $(STAMP)
	$(PY) scripts/make_demo_assets.py

clean:
	rm -rf $(VENV) out .pytest_cache
