# Benchmarks: results in bench/results/*.json, bench/results/SUMMARY.md and the README's table
# Benches run the images tagged $(BENCH_TAG) (built here, never :latest) from the chainer-mnist venv (Docker SDK,
# NumPy, Chainer for the in-process contender). Knobs: SOAK_SECONDS per image (the soak's default is 600;
# `make bench SOAK_SECONDS=120` for a shorter one), BENCH_ROUNDS interleaved rounds, MULTIHOST_EPOCHS
# (chainer-mnist) and MULTIHOST_KERAS_EPOCHS (keras-text), BENCH_ARGS passed to every timed bench.

BENCH_TAG        ?= bench
SOAK_SECONDS     ?= 600
BENCH_ROUNDS     ?= 5
MULTIHOST_EPOCHS ?= 3
MULTIHOST_KERAS_EPOCHS ?= 5
BENCH_ARGS       ?=
BENCH_PY          = $(call venv,chainer-mnist)/python
bench_image       = $(IMAGE_PREFIX)/$(1):$(BENCH_TAG)
BENCH_SUMMARY     = $(BENCH_PY) bench/summary.py --readme README.md
PY_SPY            = $(VENV_DIR)/bench-tools/bin/py-spy

.PHONY: bench
bench: bench/chainer-mnist bench/profile bench/keras-text bench/cold-start bench/soak bench/multihost bench/quality bench/conformance ## every bench, then bench/results/SUMMARY.md and the README's table
	$(BENCH_SUMMARY)

.PHONY: bench/images
bench/images: docker ## build both images tagged BENCH_TAG (default bench), never latest
	@$(MAKE) --no-print-directory build IMAGE_TAG=$(BENCH_TAG)

.PHONY: bench/tools
bench/tools: $(VENV_DIR)/bench-tools/.installed ## wrk (Debian's package), the load generator, and py-spy in its own venv, the profiles' sampler
	@scripts/ensure-tool.sh wrk

.PHONY: bench/chainer-mnist
bench/chainer-mnist: $(VENV_DIR)/chainer-mnist/.installed data bench/tools bench/images ## chainer-mnist: training loops, serving vs in-process and baseline
	$(BENCH_PY) bench/chainer_training.py --data $(DATA_DIR)/mnist
	$(BENCH_PY) bench/chainer_serving.py --image $(call bench_image,chainer-mnist) --data $(DATA_DIR)/mnist --rounds $(BENCH_ROUNDS) $(BENCH_ARGS) && $(BENCH_SUMMARY)

.PHONY: bench/keras-text
bench/keras-text: $(VENV_DIR)/chainer-mnist/.installed bench/tools bench/images ## keras-text serving: TF Serving-contract path vs built-in path, and the Python-client bench
	$(BENCH_PY) bench/keras_text_tfs.py --image $(call bench_image,keras-text) --rounds $(BENCH_ROUNDS) --py-spy $(PY_SPY) $(BENCH_ARGS)
	$(BENCH_PY) bench/keras_text_serving.py --image $(call bench_image,keras-text) && $(BENCH_SUMMARY)

.PHONY: bench/cold-start
bench/cold-start: $(VENV_DIR)/chainer-mnist/.installed data bench/images ## both images: docker run to the first /ping 200, median of 5, one harness
	$(BENCH_PY) bench/cold_start.py $(foreach i,$(IMAGES),--image $(i)=$(call bench_image,$(i))) && $(BENCH_SUMMARY)

.PHONY: bench/soak
bench/soak: $(VENV_DIR)/chainer-mnist/.installed data bench/tools bench/images ## soak of both images: SOAK_SECONDS each at concurrency 16, valid, hostile and abandoned requests
	$(foreach i,$(IMAGES),$(BENCH_PY) bench/soak.py $(i) --image $(call bench_image,$(i)) --seconds $(SOAK_SECONDS) &&) true
	$(BENCH_SUMMARY)

.PHONY: bench/multihost
bench/multihost: $(VENV_DIR)/chainer-mnist/.installed data bench/images ## both built-in trainers on 2 local hosts vs 1 (accuracy, time)
	$(BENCH_PY) bench/multihost.py chainer-mnist --image $(call bench_image,chainer-mnist) --epochs $(MULTIHOST_EPOCHS)
	$(BENCH_PY) bench/multihost.py keras-text --image $(call bench_image,keras-text) --epochs $(MULTIHOST_KERAS_EPOCHS)
	$(BENCH_SUMMARY)

.PHONY: bench/profile
bench/profile: $(VENV_DIR)/chainer-mnist/.installed data bench/tools bench/images ## chainer-mnist server CPU per request: ablations on scratch copies, py-spy
	$(BENCH_PY) bench/serving_profile.py --image $(call bench_image,chainer-mnist) --py-spy $(PY_SPY) && $(BENCH_SUMMARY)

$(VENV_DIR)/keras-text/.bench-extras: bench/keras_text_requirements.txt | $(VENV_DIR)/keras-text/.installed
	@scripts/venv-add.sh $(VENV_DIR)/keras-text bench/keras_text_requirements.txt
	@touch $@

.PHONY: bench/quality
bench/quality: $(VENV_DIR)/keras-text/.bench-extras chive ## keras-text model quality on the KNB test split (host TensorFlow), with both baselines
	$(call venv,keras-text)/python bench/keras_text_quality.py --vectors $(CHIVE_DIR) && $(BENCH_SUMMARY)

.PHONY: bench/conformance
bench/conformance: $(VENV_DIR)/pipelines/.installed data bench/images ## `conformance` of both images (at most 3 minutes each) and of the nginx + gunicorn baseline
	$(call venv,pipelines)/python bench/conformance.py $(foreach i,$(IMAGES),--image $(i)=$(call bench_image,$(i))) \
		--baseline $(call bench_image,chainer-mnist-baseline) && $(BENCH_SUMMARY)

# Not part of `make bench`: a round trains one model per configuration and seed, minutes each on 2 cores.
TUNING_ROUND ?= 1
TUNING_SEEDS ?= 1
.PHONY: bench/tuning
bench/tuning: $(VENV_DIR)/keras-text/.bench-extras chive ## keras-text hyperparameter search on a split of train, never the test split (TUNING_ROUND, TUNING_SEEDS)
	$(call venv,keras-text)/python bench/keras_text_tuning.py --round $(TUNING_ROUND) --seeds $(TUNING_SEEDS) \
		--vectors $(CHIVE_DIR) && $(BENCH_SUMMARY)

.PHONY: bench/fresh-start
bench/fresh-start: ## a bare clone of HEAD: make demo, make check twice, make test, each timed (standard library only; 26 minutes on 2 cores)
	python3 bench/fresh_start.py
