# wheelhouse: a caching PyPI proxy.
#   make run    build (release) and serve on 0.0.0.0:3141 with the cache in ./data
#   make test   unit tests + end-to-end tests (real pip against a fake upstream)
#   make image  the container image wheelhouse:latest (docs/devstack.md)
SWIFT     ?= swift
HOST      ?= 0.0.0.0
PORT      ?= 3141
DATA_DIR  ?= ./data
UPSTREAM  ?= https://pypi.org/simple/
BIN       := .build/release/wheelhouse
TEST_VENV := .venv-test

# Debian's docker-compose 1.29 where the `docker compose` plugin is missing.
COMPOSE   ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
LOG_TAIL  ?= 100
LOG_FOLLOW ?= --follow

.PHONY: all deps build release run test unit e2e fuzz container-test image bench bench-smoke bench-realsize bench-s3 logs devpi-logs clean

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

# The image from the host's release binary; no registry needed (scripts/build-image.sh).
image: release
	@scripts/build-image.sh

# The devstack setup in real containers: needs root (it starts dockerd when none answers).
container-test: release
	@scripts/test-env.sh $(TEST_VENV)
	@scripts/container-deps.sh
	WHEELHOUSE_BIN=$(abspath $(BIN)) $(TEST_VENV)/bin/pytest -q tests/container

# Follow the compose service's log (devstack habit: make devpi-logs).
# `make devpi-logs LOG_FOLLOW=` prints the last LOG_TAIL lines and returns.
logs devpi-logs:
	$(COMPOSE) logs --no-color $(LOG_FOLLOW) --tail=$(LOG_TAIL) wheelhouse

# Benchmarks against nginx and devpi (minutes; not part of make test). See docs/performance.md.
bench: release
	@bench/setup.sh full
	python3 bench/bench.py
	python3 bench/realsize.py
	@scripts/test-env.sh $(TEST_VENV)
	$(TEST_VENV)/bin/python bench/bench_s3.py

bench-smoke: release
	@bench/setup.sh smoke
	python3 bench/bench.py --smoke
	python3 bench/realsize.py --smoke

# Only the real-size pages scenario (issue 13; ~20 min): its table goes to docs/performance.md.
bench-realsize: release
	@bench/setup.sh full
	python3 bench/realsize.py

# The shared-bucket tier (docs/scale-out.md): a fresh node's first hits from the bucket vs local hits.
bench-s3: release
	@scripts/test-env.sh $(TEST_VENV)
	$(TEST_VENV)/bin/python bench/bench_s3.py

clean:
	rm -rf .build $(TEST_VENV) .venv-bench
