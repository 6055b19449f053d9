# tf_deepgifs: every target sets up .venv first (Python 3.11 and pip are all it needs).
#   make test                          install, then run the whole test suite
#   make data DATASET=bouncing_balls   build a dataset with `tfds build` (or moving_mnist)
#   make train DATASET=bouncing_balls  build the dataset if missing, then train
#        PRESET=paper|smoke, ARGS="--epochs 5 ..." (any config field, see --help)
# Optional: DATA_DIR=<TFDS data dir> (default: TFDS's, ~/tensorflow_datasets),
#           MANUAL_DIR=<folder with MNIST IDX files> for moving_mnist without internet.

PYTHON ?= python3
DATASET ?= bouncing_balls
PRESET ?= paper
ARGS ?=
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

DATA_ARGS = --dataset $(DATASET) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) \
            $(if $(MANUAL_DIR),--manual-dir $(MANUAL_DIR))

.PHONY: venv test data train clean-venv

venv: $(INSTALLED)

$(INSTALLED): requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

test: $(INSTALLED)
	$(PY) -m pytest

data: $(INSTALLED)
	$(PY) -m tf_deepgifs data $(DATA_ARGS)

train: $(INSTALLED)
	$(PY) -m tf_deepgifs train $(DATA_ARGS) --preset $(PRESET) $(ARGS)

clean-venv:
	rm -rf $(VENV)
