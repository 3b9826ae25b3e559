# Two commands on a fresh machine (README):
#   make run   - install, then solve the example problem
#   make test  - install with dev extras, then run the whole test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev bench clean docs

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'

run: install
	$(BIN)/fleetopt solve problems/chat-assistant.yaml --json out/chat-assistant.plan.json --markdown out/chat-assistant.plan.md

# docs/problem-reference.md is generated from the problem schema (a test fails when it is stale)
docs: install
	$(BIN)/python -m solver.problem.reference

# pytest exits 5 when it collects no test: that must fail, never pass silently.
# The suite runs on every core (pytest-xdist, at most 4 workers: each solves, and a solve's time
# limits assume a core of its own); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
test: install-dev
	sh scripts/install_chromium.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --maxprocesses 4 tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests were collected: failing"; exit 1; fi; exit $$rc

# The quick benchmarks: every example on pulp/cbc, pulp/highs, ortools/scip and highspy/reduced (each plan verified), then the scale ladder's small rungs
# (L and XL take minutes each: benchmarks/scale/RESULTS.md has their commands).
bench: install-dev
	$(BIN)/python benchmarks/bench_mip.py
	$(BIN)/python benchmarks/scale/run.py --rungs S M S-8Q --backends highspy/reduced highspy/highs

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
