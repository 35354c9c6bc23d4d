# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
# Each creates .venv and installs the pinned dependencies on first use.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install browser demo playground test lint bench quality assets clean

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

# The console and playground tests drive Debian's chromium through Playwright (whose own browser
# download does not work offline), with a CJK font for the Chinese in the pages and screenshots:
# installed here with apt-get when missing.
CHROMIUM ?= /usr/bin/chromium
BROWSER_PACKAGES := chromium fonts-wqy-zenhei
browser:
	@if [ -x $(CHROMIUM) ] && { ! command -v dpkg >/dev/null || dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1; }; \
	then :; else \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "make test needs Debian's $(BROWSER_PACKAGES): run 'apt-get install $(BROWSER_PACKAGES)' as root" >&2; \
	    exit 1; fi; \
	  echo "installing Debian's $(BROWSER_PACKAGES) for the browser tests"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends $(BROWSER_PACKAGES) >/dev/null; \
	fi

test: $(STAMP) browser
	ZAOBOT_TEST_CHROMIUM=$(CHROMIUM) $(PY) -m pytest

# Try the bot in a browser, on this machine: http://127.0.0.1:8080/playground
# (a throwaway secret and data dir under out/; the live check is on, so allow the camera).
playground: $(STAMP)
	@mkdir -p out/playground
	@test -f out/playground/secret || $(PY) -c "import secrets; print(secrets.token_urlsafe(32))" > out/playground/secret
	ZAOBOT_PLAYGROUND=1 ZAOBOT_DATA_DIR=out/playground/data ZAOBOT_SECRET_KEY=$$(cat out/playground/secret) \
	  $(VENV)/bin/zaobot serve

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
