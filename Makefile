# Two commands do all setup: `make run` (pipeline on the demo) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: pip then takes the local CPU build and never the CUDA one
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Label Studio gets its own venv (its pins clash with the analysis stack); tests start a real server.
.venv-ls/.installed: scripts/label-studio
	$(PYTHON) scripts/label-studio install
	touch $@

run: install
	$(BIN)/yousaid run --workspace examples/policing

test: install .venv-ls/.installed
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check pipeline scripts tests

clean:
	rm -rf examples/*/*/data examples/*/*/models examples/*/*/reports examples/*/reports .pytest_cache

bench: install bench-redaction
	$(BIN)/python scripts/benchmark.py
	$(BIN)/python scripts/benchmark_curve.py
	$(BIN)/python scripts/benchmark_counts.py
	$(BIN)/python scripts/benchmark_emerging.py

# theme counts: coverage of the audit-corrected intervals vs today's, 200 audits x 3 sizes (4-8 min)
.PHONY: bench-counts
bench-counts: install
	$(BIN)/python scripts/benchmark_counts.py $(if $(DRAWS),--draws $(DRAWS))

# ingest -> embed -> code -> report on 1k/10k/100k NHS-derived comments (about 15 min): docs/benchmarks.md
.PHONY: bench-scale
bench-scale: install
	$(BIN)/python scripts/benchmark_scale.py $(if $(SIZES),--sizes $(SIZES))

# redaction: recall of planted personal data and look-alikes changed (about 20 s): docs/benchmarks.md
.PHONY: bench-redaction
bench-redaction: install
	$(BIN)/python scripts/benchmark_redaction.py
