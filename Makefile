# avlab: two commands on a fresh machine (python3.11 + make):
#   make repro   create .venv, install pinned dependencies, run the pipeline (dvc repro)
#   make test    same venv, run the whole test suite (CI: .ci/run)
#   make test-fast  the inner loop: the tests not marked slow (no notebooks), under 2 minutes on 2 cores
PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV)/bin)
STAMP  := $(VENV)/.installed
# The venv's tools first on PATH: dvc's `python tools/run_stage.py` and papermill's kernel use the venv.
RUN    := PATH="$(BIN):$$PATH" VIRTUAL_ENV="$(abspath $(VENV))"

.PHONY: venv repro repro-force test test-fast lint lab bench site site-check clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "avlab needs Python 3.11, got " + sys.version'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (avlab .venv)" >/dev/null
	touch $(STAMP)

repro: $(STAMP)
	$(RUN) dvc repro

repro-force: $(STAMP)  ## re-run every stage even if DVC finds it up to date
	$(RUN) dvc repro --force

test: $(STAMP)  ## the suite on every core (pytest-xdist; each test is independent of the others)
	$(RUN) python -m pytest -n auto

test-fast: $(STAMP)  ## the same on every core, without the tests marked slow (notebooks, pipelines, torchrun)
	$(RUN) python -m pytest -n auto -m "not slow"

lint: $(STAMP)
	$(RUN) ruff check .

# JupyterLab at the project root; notebooks chdir there themselves (avlib.stages.shared.setup), so they
# run exactly as under DVC. Root (containers, CI boxes) needs --allow-root.
lab: $(STAMP)
	$(RUN) jupyter lab --no-browser $(if $(filter 0,$(shell id -u)),--allow-root,)

# The reports site (reports/index.html, reports/site/) and its check in headless Chromium: every page
# opened at 1280 px, broken links/images/console errors fail it, screenshots in reports/.screenshots/.
site: $(STAMP)
	$(RUN) python tools/build_index.py

site-check: site
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(RUN) python tools/site_check.py

bench: $(STAMP)
	$(RUN) python tools/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
