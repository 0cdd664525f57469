# SPDX-License-Identifier: MIT
# Thin wrapper: everything real lives in CMake and scripts/.
BUILD ?= build
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# The development build keeps debug info (backtraces in tests); a plain cmake build, and the
# packages, are Release.
BUILD_TYPE ?= RelWithDebInfo

.PHONY: all deps build test unit demo fuzz fuzz-long bench clean format deb

all: build

# Which packages `deps` installs (scripts/install-deps.sh): all for tests, less for the demo.
DEPS ?= all

deps:
	@HASERF_DEPS=$(DEPS) bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

# On failure, the failed checks once more, last (scripts/test-failures.sh).
test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) || { cd "$(CURDIR)" && bash scripts/test-failures.sh "$(BUILD)"; exit 1; }

unit: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

demo: DEPS = demo
demo: build
	@bash scripts/demo.sh $(BUILD)

# Debian packages (Release, /usr) in build-deb/: haserf, haserf-haproxy, libhaserf0, -dev.
deb:
	@HASERF_DEPS=build bash scripts/install-deps.sh
	@bash scripts/make-deb.sh

# The fuzz targets build with the same packages as the tests (scripts/fuzz.sh adds clang).
fuzz: deps
	@bash scripts/fuzz.sh $(or $(SECONDS_EACH),30)

# Every target (or TARGETS="template rpc") for a fixed number of executions (RUNS, default
# 10^7), corpora merged into fuzz/corpus/ (commit them). Hours on 2 cores: not part of CI.
fuzz-long: deps
	@bash scripts/fuzz.sh --runs $(or $(RUNS),10000000) $(TARGETS)

bench: build
	@bash bench/run.sh $(BUILD)
	@bash bench/recipe/run.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.hpp' '*.h' '*.c')

clean:
	rm -rf $(BUILD)
