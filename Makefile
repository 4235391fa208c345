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
	$(BIN)/python -m pytest -q --durations=15

lint: $(STAMP)
	$(BIN)/ruff check nmt_cli tests bench
	$(BIN)/ruff format --check nmt_cli tests bench
	$(BIN)/mypy nmt_cli

slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# The fast suite's tests of what the floor changes, against the lowest versions pyproject.toml admits
# (constraints/floor.txt): the command line (typer, rich), data preparation (sentencepiece, numpy,
# datasets), scoring (sacrebleu), translation and its displays, config files (pyyaml), run locks
# (filelock), doctor and versions. The tests that exercise only torch (the same torch in both
# environments: models, search, kernels, checkpoints, schedules, kill-and-resume, distributed,
# recipes) run once, in `make test`. Keeps CI within budget on slower CPUs (2-core AVX2-only EPYC).
FLOOR := .venv-floor
FLOOR_TESTS ?= tests/test_cli.py tests/test_commandline.py tests/test_options.py tests/test_corpus.py \
  tests/test_prepare.py tests/test_batching.py tests/test_sampling.py tests/test_evaluate.py \
  tests/test_score.py tests/test_translate.py tests/test_alignment.py tests/test_doctor.py \
  tests/test_versions.py tests/test_architecture.py tests/test_workflows.py tests/test_demo.py \
  tests/test_export.py \
  tests/faults/test_input.py tests/faults/test_prepare_faults.py
$(FLOOR)/.installed: pyproject.toml constraints/floor.txt
	test -x $(FLOOR)/bin/python || $(PYTHON) -m venv $(FLOOR)
	$(FLOOR)/bin/python -m pip install -q --upgrade pip
	$(FLOOR)/bin/python -m pip install -q $(TORCH_FROM) "$(TORCH_SPEC)"
	$(FLOOR)/bin/python -m pip install -q -c constraints/floor.txt -e ".[$(EXTRAS)]"
	touch $@

test-floor: $(FLOOR)/.installed
	$(FLOOR)/bin/python -m pytest -q -p no:cacheprovider --durations=15 $(FLOOR_TESTS)

clean:
	rm -rf $(VENV) $(FLOOR) recipes/demo/work
