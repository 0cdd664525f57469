# SPDX-License-Identifier: MIT
# Thin wrapper: everything real lives in CMake and scripts/.
BUILD ?= build
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test unit demo fuzz bench clean format

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

unit: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

demo: build
	@bash scripts/demo.sh $(BUILD)

fuzz:
	@bash scripts/fuzz.sh $(or $(SECONDS_EACH),30)

bench: build
	@bash bench/run.sh $(BUILD)
	@bash bench/recipe/run.sh $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.hpp' '*.h' '*.c')

clean:
	rm -rf $(BUILD)
