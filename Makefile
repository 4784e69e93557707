# Two entry points do all the set-up on a fresh machine:
#   make demo   - creates .venv, installs diffembed, maps the built-in swiss roll into out/swiss-roll/
#   make test   - creates .venv, installs torch (CPU wheel) then diffembed with all extras (and Debian chromium and
#                 headless Java when run as root), runs the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-fast browser java data bench lint docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m pip install --quiet -e '.[test,text,diffusion,distributed,graph]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/diffembed map --dataset swiss-roll -o out/swiss-roll --overwrite
	@echo "Open out/swiss-roll/report.html in a browser."

browser:
	@bash .ci/install-browser.sh

# Debian default-jre-headless for the Spark test, when root (never fails; the test skips without it)
java:
	@bash .ci/install-java.sh

# Debian dict-gcide/wordnet text + the WS353/SimLex files of the gensim wheel, into data/
# (set-up time only; the real-data tests skip, saying why, when this could not run)
data:
	@bash scripts/fetch_data.sh || echo "Could not fetch data/: the real-data tests will be skipped." >&2

# two workers (the machine's 2 cores); a test module stays on one worker (module fixtures)
test: $(STAMP) browser java data
	$(BIN)/python -m pytest -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not browser and not slow"

bench:
	bash benchmarks/setup_bench_env.sh
	.venv-bench/bin/python benchmarks/run.py

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check src tests

# the user guide + API reference from the numpydoc docstrings, offline, warnings are errors
docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	$(BIN)/python -m mkdocs build --strict
	@echo "Open site/index.html in a browser."

clean:
	rm -rf $(VENV) out .pytest_cache site
