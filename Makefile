# The two commands a newcomer needs: `make run` and `make test`. Both install what is missing first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.install-stamp

.PHONY: install run test lint format bench asyncapi clean

install: $(STAMP)

INSTALL_LOG := $(VENV)/install.log

# Re-install only when the project's dependencies change; otherwise this is a no-op. pip's output goes to
# $(INSTALL_LOG), the terminal gets one line (and the log's tail if the install fails).
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Leadflow needs Python >= 3.11 (set PYTHON=...)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing Leadflow and its dependencies into $(VENV) (log: $(INSTALL_LOG))…"
	@{ $(PY) -m pip install --disable-pip-version-check --upgrade pip \
	  && $(PY) -m pip install --disable-pip-version-check -e '.[dev]'; } > $(INSTALL_LOG) 2>&1 \
	  || { tail -n 30 $(INSTALL_LOG) >&2; echo "The install failed; the whole log: $(INSTALL_LOG)" >&2; exit 1; }
	@touch $(STAMP)

run: install
	@$(VENV)/bin/leadflow up

# The suite in two processes (pytest-xdist), a test file each at a time: its end-to-end tests mostly wait
# on servers, so two overlap well on two cores. TEST_WORKERS=0 runs it in this process alone.
TEST_WORKERS ?= 2

test: install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) bench/import_slice.py
	$(PY) bench/validate.py
	$(PY) bench/projection.py
	$(PY) bench/import_during_backlog.py
	$(PY) bench/due_steps.py
	$(PY) bench/send.py
	$(PY) bench/inbox.py
	$(PY) bench/inbox_imap.py

asyncapi: install
	$(VENV)/bin/leadflow asyncapi --output docs/asyncapi.json

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
