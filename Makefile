# Set-up is part of every target: a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint slow test-floor clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(MAKE) -C recipes/demo NMT="$(abspath $(BIN))/nmt"

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check nmt_cli tests bench
	$(BIN)/ruff format --check nmt_cli tests bench
	$(BIN)/mypy nmt_cli

slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# The fast suite against the lowest versions pyproject.toml admits (constraints/floor.txt).
FLOOR := .venv-floor
$(FLOOR)/.installed: pyproject.toml constraints/floor.txt
	test -x $(FLOOR)/bin/python || $(PYTHON) -m venv $(FLOOR)
	$(FLOOR)/bin/python -m pip install -q --upgrade pip
	$(FLOOR)/bin/python -m pip install -q "$(TORCH_SPEC)"
	$(FLOOR)/bin/python -m pip install -q -c constraints/floor.txt -e ".[test]"
	touch $@

test-floor: $(FLOOR)/.installed
	$(FLOOR)/bin/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) $(FLOOR) recipes/demo/work
