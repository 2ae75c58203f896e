# Neuromod — the two commands of the README, and a few more.
SWIFT ?= swift
PORT ?= 8080
DATA_DIR ?= ./data

.PHONY: run test interop build release deps test-deps python-deps bench clean

## Start the service on 127.0.0.1:$(PORT) with SQLite under $(DATA_DIR).
run: deps release
	.build/release/neuromod serve --port $(PORT) --data-dir $(DATA_DIR)

## Run the whole test suite: the Swift tests, then the Python interoperability check.
test: deps test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing
	$(MAKE) interop

## A checkpoint downloaded over HTTP, loaded with `safetensors`, run in NumPy, matches /predict;
## the study statistics match NumPy/SciPy on fixed numbers.
interop: python-deps
	$(SWIFT) build
	python3 Tests/interop/checkpoint_numpy.py --bin .build/debug/neuromod
	python3 Tests/interop/study_stats_scipy.py --bin .build/debug/neuromod

python-deps:
	@python3 -c 'import numpy, safetensors, scipy' 2>/dev/null || python3 -m pip install --quiet safetensors numpy scipy \
	  || python3 -m pip install --quiet --break-system-packages safetensors numpy scipy

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## Engine throughput beside the NumPy peer (see BENCHMARKS.md).
bench: deps release
	scripts/bench-mlp.sh

clean:
	rm -rf .build
