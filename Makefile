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

.PHONY: venv repro repro-force test test-fast lint lab bench cross-cpu-audit site site-check clean exp-show metrics

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
	$(RUN) python -m pytest -n auto --dist worksteal -m "not serial"  # idle workers take queued tests
	$(RUN) python -m pytest -n 2 -m serial

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

# Would this machine reproduce the committed results bit for bit? One committed run's first epoch per training
# family, trained here, against its committed history.csv (tools/cross_cpu_audit.py; ~3 min on 2 cores).
cross-cpu-audit: $(STAMP)
	$(RUN) python tools/cross_cpu_audit.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# ---- Comparing experiments in an 80-column terminal (docs/experiments.md) -------------------------------
# `dvc exp show` has ~700 columns and `dvc metrics show` is one 5,000-character row: unreadable. These show
# ONE stage, transposed: a row per param or headline number (the stage's name dropped), a column per
# experiment, cells cut to fit. EXPS passes options to `dvc exp show` (e.g. EXPS="-A", EXPS="-n 5",
# EXPS="--only-changed"); COLUMNS widens the table.
define TRANSPOSE
import csv, json, os, sys
width = int(os.environ.get("COLUMNS") or 80)
stage, mode = sys.argv[1], sys.argv[2]
if mode == "exp":
    rows = list(csv.reader(sys.stdin))
    head, exps = rows[0], rows[1:]
    names = [(e[0] or e[1])[:12] for e in exps]
    table = [(h[len(stage) + 1:], [e[i] for e in exps]) for i, h in enumerate(head) if h.startswith(stage + ".")]
else:
    found = {}
    for rev, data in json.load(sys.stdin).items():
        for path, file in data.get("data", {}).items():
            found[rev or "workspace"] = file.get("data", {}).get(stage, {})
    names = list(found)
    keys = list(dict.fromkeys(k for numbers in found.values() for k in numbers))
    table = [(k, [str(found[n].get(k, "-")) for n in names]) for k in keys]
if not table:
    sys.exit(f"nothing to show for stage {stage!r}: is it in dvc.yaml, and has it run?")
table = [(k, [v if len(v) <= 12 else v[:11] + "…" for v in vals]) for k, vals in table]
w0 = min(max(len(k) for k, _ in table), 34)
fit = max(1, (width - w0 - 2) // 14)
print(f"{stage:<{w0}}  " + "".join(f"{n:>14}" for n in names[:fit]))
for key, vals in table:
    key = key if len(key) <= w0 else key[: w0 - 1] + "…"
    print(f"{key:<{w0}}  " + "".join(f"{v:>14}" for v in vals[:fit]))
if len(names) > fit:
    print(f"({len(names) - fit} more experiments: COLUMNS={width + 14 * (len(names) - fit)} make ...)")
endef
export TRANSPOSE

exp-show:  ## make exp-show STAGE=t1_fusion [EXPS="-A"]: one stage's params and headline, per experiment
	@test -n "$(STAGE)" || { echo "usage: make exp-show STAGE=<stage> [EXPS='-A']"; exit 2; }
	@$(RUN) dvc exp show --no-pager --csv --drop '.*' --keep '^Experiment$$|^rev$$|^$(STAGE)\.' $(EXPS) \
	  | $(RUN) python -c "$$TRANSPOSE" $(STAGE) exp

metrics:  ## make metrics STAGE=t1_fusion [REVS="-a"]: the stage's headline numbers, one per line
	@test -n "$(STAGE)" || { echo "usage: make metrics STAGE=<stage> [REVS='-a']"; exit 2; }
	@$(RUN) dvc metrics show --json $(REVS) reports/$(STAGE)/headline.json \
	  | $(RUN) python -c "$$TRANSPOSE" $(STAGE) metrics
