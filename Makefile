# wheelhouse: a caching PyPI proxy.
#   make run    build (release) and serve on 0.0.0.0:3141 with the cache in ./data
#   make test   unit tests + end-to-end tests (real pip against a fake upstream)
SWIFT     ?= swift
HOST      ?= 0.0.0.0
PORT      ?= 3141
DATA_DIR  ?= ./data
UPSTREAM  ?= https://pypi.org/simple/
BIN       := .build/release/wheelhouse
TEST_VENV := .venv-test

.PHONY: all deps build release run test unit e2e fuzz bench bench-smoke logs devpi-logs clean

all: release

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

# The Swift runtime is linked statically: smaller RSS, and the binary runs
# wherever libcurl and zlib are installed (see Dockerfile).
release: deps
	$(SWIFT) build -c release --static-swift-stdlib

run: release
	$(BIN) serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR) --upstream $(UPSTREAM)

test: unit e2e

unit: deps
	$(SWIFT) test

e2e: release
	@scripts/test-env.sh $(TEST_VENV)
	WHEELHOUSE_BIN=$(abspath $(BIN)) $(TEST_VENV)/bin/pytest -q tests/e2e

# libFuzzer (with AddressSanitizer) on the request parser and a real connection on the
# event loop, for FUZZ_SECONDS (CI: 60; run longer by hand). See scripts/fuzz.sh.
FUZZ_SECONDS ?= 60
fuzz: deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

# Follow the compose service's log (devstack habit: make devpi-logs).
logs devpi-logs:
	docker compose logs -f --tail=100 wheelhouse 2>/dev/null || docker-compose logs -f --tail=100 wheelhouse

# Benchmarks against nginx and devpi (minutes; not part of make test). See docs/performance.md.
bench: release
	@bench/setup.sh full
	python3 bench/bench.py

bench-smoke: release
	@bench/setup.sh smoke
	python3 bench/bench.py --smoke

clean:
	rm -rf .build $(TEST_VENV) .venv-bench
