# Running: the demo, the Step Functions definitions (locally and on AWS), endpoints

SFN = $(call venv,pipelines)/python -m byoc_pipelines.cli
DEF ?= chainer-mnist-batch
# The tutorial's script-mode flow: its script from examples/chainer-script, trained with ChainerMN on 2 hosts.
SCRIPT_FLOW ?= --source-dir examples/chainer-script --program chainer_mnist.py --instance-count 2 \
	--hyperparameter epochs=2 --hyperparameter units=100 --hyperparameter batch-size=50

# What the demo runs and nothing else, set up side by side (the venv's downloads overlap the image builds).
DEMO_SETUP := $(VENV_DIR)/pipelines/.installed data build

.PHONY: demo
demo: ## the main job locally: the Chainer Step Functions workflow, then the Keras endpoint (DEMO_ARGS=--verbose)
	@$(MAKE) --no-print-directory --silent -j3 $(DEMO_SETUP)
	@$(SFN) demo --chainer-image $(call image,chainer-mnist) --keras-image $(call image,keras-text) \
		--mnist $(DATA_DIR)/mnist $(DEMO_ARGS)

.PHONY: demo-faults
demo-faults: $(VENV_DIR)/pipelines/.installed data docker build/chainer-mnist ## the Chainer workflow's failure path, then a spot interruption it survives (real containers, injected faults)
	@$(SFN) demo-faults --image $(call image,chainer-mnist) --mnist $(DATA_DIR)/mnist $(DEMO_ARGS)

.PHONY: pipeline/render
pipeline/render: $(VENV_DIR)/pipelines/.installed ## write the definitions (JSON) and their pictures (PNG, SVG) to pipelines/definitions
	@scripts/ensure-tool.sh dot graphviz
	$(SFN) render

.PHONY: pipeline/validate
pipeline/validate: $(VENV_DIR)/pipelines/.installed node_modules/.installed ## statelint, asl-validator and botocore request shapes for every definition; parliament on the IAM policies
	$(SFN) validate

.PHONY: pipeline/deploy
pipeline/deploy: $(VENV_DIR)/pipelines/.installed ## deploy to AWS: four IAM roles, Lambda, state machines (create or update)
	$(SFN) deploy

.PHONY: pipeline/run
pipeline/run: $(VENV_DIR)/pipelines/.installed ## start an execution of DEF on AWS and follow it (DEF=chainer-mnist-batch; RUN_ARGS: flags of `run`, see README)
	$(SFN) run $(DEF) $(RUN_ARGS)

.PHONY: pipeline/local
pipeline/local: $(VENV_DIR)/pipelines/.installed data docker build ## run both definitions on one machine: moto's Step Functions engine + real containers (LOCAL_ARGS=--verbose)
	@$(SFN) local chainer-mnist-batch --image $(call image,chainer-mnist) --data $(DATA_DIR)/mnist $(SCRIPT_FLOW) $(LOCAL_ARGS)
	@$(SFN) local keras-text-endpoint --image $(call image,keras-text) --data datasets/knbc $(LOCAL_ARGS)

.PHONY: endpoint/up
endpoint/up: $(VENV_DIR)/pipelines/.installed ## create a model, endpoint config and endpoint on AWS and wait until InService (ENDPOINT_ARGS)
	$(SFN) endpoint-up $(ENDPOINT_ARGS)

.PHONY: endpoint/down
endpoint/down: $(VENV_DIR)/pipelines/.installed ## delete the endpoint, its config and model (ENDPOINT_ARGS)
	$(SFN) endpoint-down $(ENDPOINT_ARGS)
