# Images: build and push $(IMAGE_PREFIX)/<image>:$(IMAGE_TAG)

.PHONY: build
build: $(IMAGES:%=build/%) ## build every image

.PHONY: $(IMAGES:%=build/%)
$(IMAGES:%=build/%): build/%: ## build one image (BuildKit's log in build/logs), e.g. make build/chainer-mnist
	@scripts/docker/build-image.sh $* $(call image,$*) >/dev/null

.PHONY: push
push: $(IMAGES:%=push/%) ## push every image to ECR

.PHONY: $(IMAGES:%=push/%)
$(IMAGES:%=push/%): push/%: $(VENV_DIR)/pipelines/.installed docker build/% ## push one image to ECR as <git-sha>[-dirty] and latest (PUSH_ARGS="--region ...")
	@echo ">> pushing $(call image,$*)" >&2
	$(call venv,pipelines)/python -m byoc_pipelines.cli push $(call image,$*) --repository $(IMAGE_PREFIX)/$* $(PUSH_ARGS)

# A new image from a template (README: "Adding an image"): containers/NAME, its tests, read by every tool.
NAME ?=

.PHONY: new-image
new-image: ## a new scikit-learn image from templates/sklearn: make new-image NAME=iris-classifier
	@test -n "$(NAME)" || { echo "usage: make new-image NAME=<name>" >&2; exit 2; }
	@$(PYTHON) scripts/new_image.py $(NAME)
