# Neuromod — the two commands of the README, and a few more.
SWIFT ?= swift
PORT ?= 8080
DATA_DIR ?= ./data

.PHONY: run test build release deps bench clean

## Start the service on 127.0.0.1:$(PORT) with SQLite under $(DATA_DIR).
run: deps release
	.build/release/neuromod serve --port $(PORT) --data-dir $(DATA_DIR)

## Run the whole test suite.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## Engine throughput beside the NumPy peer (see BENCHMARKS.md).
bench: deps release
	scripts/bench-mlp.sh

clean:
	rm -rf .build
