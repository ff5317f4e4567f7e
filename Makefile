# fallkd: two commands on a fresh machine (see README.md)
#   make demo   install, then execute every notebook (quick profile, offline) into runs/<timestamp>/ (`fallkd course`)
#   make test   install, then lint, unit tests, notebook pairing check and every notebook (quick profile)
#   make quick-test   lint and the fast unit tests (no `slow` marker): a developer's inner loop
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Offline safety: no hub, no auto-install, no update checks, anywhere.
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := 0
export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg
# notebooks run unattended here (nbmake, fallkd course): widgets draw still figures (a live one can hang nbclient)
export FALLKD_HEADLESS := 1

.PHONY: install demo test quick-test lint unit notebooks sync-notebooks bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, at the release this machine keeps on disk; on a GPU host any torch>=2.1 will do.
	$(BIN)/pip install -q "torch==2.14.1" "torchvision==0.29.1" || $(BIN)/pip install -q "torch>=2.1" "torchvision>=0.16"
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# every notebook executed into runs/<timestamp>/ (ipynb, html, results cards, summary); `fallkd demo` still runs
# the course's main job without notebooks. After a failure, `$(BIN)/fallkd course --resume` goes on from the failed notebook.
demo: install
	$(BIN)/fallkd course --profile quick

lint: install
	$(BIN)/ruff check fallkd_lib tests benchmarks scripts notebooks
	$(BIN)/ruff format --check fallkd_lib tests benchmarks scripts

unit: install
	$(BIN)/pytest -q -n 2 tests

# the developer's inner loop: lint and the unit tests not marked slow (about two minutes on 2 cores)
quick-test: lint
	$(BIN)/pytest -q -n 2 -m "not slow" tests

notebooks: install
	$(BIN)/python scripts/check_notebooks.py notebooks
	$(BIN)/pytest -q --nbmake --nbmake-timeout=900 --durations=0 notebooks

test: lint unit notebooks

sync-notebooks: install
	$(BIN)/jupytext --sync notebooks/*.py

bench: install
	$(BIN)/python benchmarks/bench_synthetic.py
	$(BIN)/python benchmarks/bench_data.py

clean:
	rm -rf runs .cache data/synthetic data/merged data/crops
