# Set-up is part of every target: a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
# Where pip looks for torch. Empty: pip's own configuration (PyPI: on Linux a CUDA build of several GB).
# CPU-only wheels:  make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
# Optional parts installed with nmt: hf (prepare --hf), tensorboard (train --tensorboard); the tests use both.
EXTRAS ?= test,hf,tensorboard
BIN := $(VENV)/bin
TORCH_FROM := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
STAMP := $(VENV)/.installed

.PHONY: install demo test lint slow test-floor clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_FROM) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
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

# The fast suite against the lowest versions pyproject.toml admits (constraints/floor.txt), less the
# tests that exercise only torch (the same torch in both environments): kill-and-resume, kernels,
# distributed training, recipes. Keeps CI within budget on slower CPUs (2-core AVX2-only EPYC).
FLOOR := .venv-floor
FLOOR_SKIP ?= --ignore=tests/faults --ignore=tests/test_recipes.py --ignore=tests/test_checkpoint.py \
  --ignore=tests/test_kernels.py --ignore=tests/test_int8.py --ignore=tests/test_distributed.py \
  --ignore=tests/test_autotune.py --ignore=tests/test_schedule.py --ignore=tests/test_precision.py \
  --ignore=tests/test_devices.py
$(FLOOR)/.installed: pyproject.toml constraints/floor.txt
	test -x $(FLOOR)/bin/python || $(PYTHON) -m venv $(FLOOR)
	$(FLOOR)/bin/python -m pip install -q --upgrade pip
	$(FLOOR)/bin/python -m pip install -q $(TORCH_FROM) "$(TORCH_SPEC)"
	$(FLOOR)/bin/python -m pip install -q -c constraints/floor.txt -e ".[$(EXTRAS)]"
	touch $@

test-floor: $(FLOOR)/.installed
	$(FLOOR)/bin/python -m pytest -q -p no:cacheprovider $(FLOOR_SKIP)

clean:
	rm -rf $(VENV) $(FLOOR) recipes/demo/work
