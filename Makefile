# tf_deepgifs: every target sets up .venv first (Python 3.11 and pip are all it needs).
#   make test                          install, then run the whole test suite
#   make test-fast                     the fast tier (no commands in processes of their own)
#        TEST_WORKERS=N runs the tests in N processes (default 2)
#   make data DATASET=bouncing_balls   build a dataset with `tfds build` (or moving_mnist)
#   make train DATASET=bouncing_balls  build the dataset if missing, then train
#        PRESET=staged (the default: the paper's model trained by stages, an autoencoder on
#        single frames then the LSTM in its latent space, under an hour on 2 cores) |
#        paper (the paper's joint training and objective) | improved | smoke,
#        ARGS="--dynamics-steps 8000 ..." (any config field, see --help)
#        BACKEND=jax trains with the JAX trainer (Bouncing Balls, simulated in-process)
#   make export RUN=runs/bouncing_balls-paper   the run's generator as SavedModel and ONNX,
#        verified (RUN defaults to the run `make train` with the same DATASET and PRESET writes)
#   make evaluate RUN=...              metrics on the test split, report and figures in RUN/evaluation
#        (ARGS="--limit 500 --samples 10 ..."; see python -m tf_deepgifs evaluate --help)
#   make tune RUN=runs/bouncing_balls-improved   the run's LSTM trained over the whole horizon in
#        latent space (encoder, decoder frozen) into TUNED (default RUN-tuned): a run that
#        export and evaluate take (ARGS="--steps 4000 ..."; python -m tf_deepgifs tune --help)
#   make generate SEED=ball.png        a GIF from your seed image(s) with the shipped generator
#        of DATASET and PRESET (pretrained/; PRESET=improved wants 3 seed frames: a GIF or 3
#        images), or RUN's export when RUN is given, or MODEL=<generator.onnx>;
#        GIF=out.gif, ARGS="--samples 4 --frames 30"
#   make web                           the page that runs a generator in the browser, served at
#        http://127.0.0.1:8000/ (PORT=...; it installs its npm packages first)
#   make reproduce                     the published models remade from nothing (results/recipe.toml)
#   make bench                         every benchmark at the paper's sizes, into BENCHMARKS.md
#        (about 50 minutes on 2 cores, --build adds 5; ARGS="--export-dir RUN/export --steps 5")
# Optional: DATA_DIR=<TFDS data dir> (default: TFDS's, ~/tensorflow_datasets),
#           MANUAL_DIR=<folder with MNIST IDX files> for moving_mnist without internet.

PYTHON ?= python3
DATASET ?= bouncing_balls
PRESET ?= staged
BACKEND ?= tensorflow
ARGS ?=
RUN ?= runs/$(subst /,-,$(DATASET))-$(PRESET)
# The staged preset makes the paper's model (K = 1), so its shipped counterpart is paper's.
PRETRAINED_DIR = pretrained/$(subst /,-,$(DATASET))-$(if $(filter staged,$(PRESET)),paper,$(PRESET))
# The shipped generator: generator.onnx, or a legacy generator_fixed.onnx where that is all there is.
PRETRAINED = $(firstword $(wildcard $(PRETRAINED_DIR)/generator.onnx $(PRETRAINED_DIR)/generator_fixed.onnx) \
                         $(PRETRAINED_DIR)/generator.onnx)
MODEL ?= $(if $(filter command line environment,$(origin RUN)),$(RUN)/export/generator.onnx,$(PRETRAINED))
TUNED ?= $(RUN)-tuned
GIF ?= generated.gif
PORT ?= 8000
WEB_INSTALLED := web/node_modules/.installed
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

DATA_ARGS = --dataset $(DATASET) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) \
            $(if $(MANUAL_DIR),--manual-dir $(MANUAL_DIR))

.PHONY: venv test test-fast web web-deps reproduce data train export evaluate tune generate readme-gif bench clean-venv

venv: $(INSTALLED)

$(INSTALLED): requirements.txt benchmarks/requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt \
	    -r benchmarks/requirements.txt -c constraints.txt
	touch $@

# The tests run in TEST_WORKERS processes (pytest-xdist), each test in one of them, but the
# tests of a file that shares a fixture all in one, so that fixture is built once (groups
# that tests/scheduling.py marks); 2 keeps both cores of a 2-core machine busy (3 there is
# slower). The tests go out in the order tests/scheduling.py gives them (the longest files
# first), not xdist's.
TEST_WORKERS ?= 2
TEST_ARGS = -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

test: $(INSTALLED) $(WEB_INSTALLED)
	$(PY) -m pytest $(TEST_ARGS)

test-fast: $(INSTALLED)
	$(PY) -m pytest $(TEST_ARGS) -m "not slow"

# The page's packages (onnxruntime-web, the GIF reader and writer, puppeteer-core for its
# tests), pinned in web/package-lock.json; no CDN at run time.
web-deps: $(WEB_INSTALLED)

$(WEB_INSTALLED): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web: $(WEB_INSTALLED)  # the server is the standard library's: no virtualenv needed
	$(PYTHON) web/serve.py --port $(PORT)

data: $(INSTALLED)
	$(PY) -m tf_deepgifs data $(DATA_ARGS)

train: $(INSTALLED)
	KERAS_BACKEND=$(BACKEND) $(PY) -m tf_deepgifs train $(DATA_ARGS) --preset $(PRESET) $(ARGS)

export: $(INSTALLED)
	$(PY) -m tf_deepgifs export --run-dir $(RUN)

evaluate: $(INSTALLED)
	$(PY) -m tf_deepgifs evaluate --run-dir $(RUN) $(ARGS)

tune: $(INSTALLED)
	$(PY) -m tf_deepgifs tune --from-run $(RUN) --run-dir $(TUNED) $(ARGS)

# README's picture: the shipped improved generator continuing the shipped seed, made by the
# runner users run (tests/test_pretrained.py checks it is what the shipped files make).
README_GIF = docs/deepgifs.gif
README_GIF_MODEL = $(firstword $(wildcard pretrained/bouncing_balls-improved/generator.onnx \
                                          pretrained/bouncing_balls-improved/generator_fixed.onnx))
readme-gif: $(INSTALLED)
	$(PY) -m export.generate --model $(README_GIF_MODEL) --seed pretrained/seeds/balls.gif \
	    --deterministic --out $(README_GIF)

generate: $(INSTALLED)
	$(if $(SEED),,$(error give the seed image(s): make generate SEED=path/to/image.png))
	$(if $(wildcard $(MODEL)),,$(error no generator $(MODEL): pretrained/ holds Bouncing Balls' \
	    paper and improved ones; for others make train, make export, then RUN=<run dir>))
	$(PY) -m export.generate --model $(MODEL) --seed $(SEED) --out $(GIF) $(ARGS)

bench: $(INSTALLED)
	$(PY) benchmarks/run_all.py --out BENCHMARKS.md $(ARGS)

clean-venv:
	rm -rf $(VENV)

reproduce: $(INSTALLED)
	$(PY) results/reproduce.py $(ARGS)
