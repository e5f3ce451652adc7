# The two commands of the README: `make demo` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench docs package clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,cluster]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n auto --dist worksteal

demo: $(STAMP)
	$(VENV)/bin/wafersim demo --preset wse2 --steps 100

bench: $(STAMP)
	$(VENV)/bin/wafersim bench --preset wse2 --steps 100 --write bench/RESULTS.md
	$(PY) bench/compiler.py --write bench/RESULTS.md
	$(PY) bench/kernels.py --write bench/RESULTS.md --plot docs/kernel_utilization.png
	$(PY) bench/workloads.py --timeout 600 --write bench/RESULTS.md
	$(PY) bench/threads.py --write bench/RESULTS.md

docs: $(STAMP)
	$(PY) scripts/update_docs.py

package: $(STAMP)
	$(PY) -m build --outdir dist

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info
