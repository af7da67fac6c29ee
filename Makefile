# One entry point for newcomers and CI: `make demo`, `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check bench mutation lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/agora-bridge demo

test: $(STAMP)
	$(PY) -m pytest -q

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench

# Mutation testing of the pure core (snapshots/, decision/; see [tool.mutmut] in pyproject.toml).
# Slow (about 8 min on 2 cores), so not part of `make test`. Survivors: `mutmut results`,
# one of them: `mutmut show NAME`. mutants/ caches the results between runs.
MUTATION_JOBS ?= 2
mutation: $(STAMP)
	$(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS)
	$(VENV)/bin/mutmut export-cicd-stats
	$(VENV)/bin/mutmut results

lock: $(STAMP)
	{ printf "# Pinned versions for a reproducible install: pip install -c constraints.txt -e \".[dev]\"\n# Regenerate with: make lock\n"; $(PY) -m pip freeze --exclude-editable; } > constraints.txt.new && mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache mutants
