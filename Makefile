# detinfer — the two commands: `make run` and `make test`. Everything else is optional.
BUILD      ?= build
SAN_BUILD  ?= build-sanitize
ARM_BUILD  ?= build-arm64
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja
# A test that hangs fails after this many seconds instead of holding CI until its limit.
TEST_TIMEOUT ?= 600
# Unity builds (CMake batches of 8 sources per translation unit): the heavy headers are compiled
# once per batch instead of once per file, which `make test`'s four builds (release, sanitizer,
# aarch64, fuzz) need to fit CI's time limit. Per-ISA sources are never batched (cmake/Flags.cmake). While editing, `UNITY=OFF` in a
# fresh build folder rebuilds only the file that changed.
UNITY ?= ON
export DETINFER_UNITY := $(UNITY)

.PHONY: all deps test-deps configure build run test test-default test-sanitize test-arm64 cross-arm64 test-large bench bench-llamacpp train-default fuzz fuzz-smoke clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=$(UNITY)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The main job, on the model detinfer ships (models/verbs): generate, re-generate with the KV
# cache off, re-score, and compare the bits.
run: build
	@bash scripts/demo.sh $(BUILD)

# The default suite, the same suite under ASan+UBSan, then the aarch64 build checked under
# emulation against this one (same bits on ARM: docs/kernels.md).
test: test-default test-sanitize test-arm64

# Test-only oracles (numpy reads back the .npz files verify writes), the Python package's
# tests (tests/python, run by Debian's python3 -m pytest) and the official OpenAI Node client the
# server's conformance test drives (npm `openai`, into $(BUILD)/openai-client).
test-deps:
	@bash scripts/install-deps.sh python3-numpy python3-pytest
	@bash tests/server/openai_client/run.sh --install $(BUILD)

test-default: build test-deps
	ctest --test-dir $(BUILD) -L default --output-on-failure -j $(JOBS) --timeout $(TEST_TIMEOUT)

test-sanitize: deps test-deps
	cmake -S . -B $(SAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=$(UNITY) \
	  -DDETINFER_SANITIZE=ON -DDETINFER_BUILD_BENCH=OFF -DDETINFER_BUILD_PYTHON=OFF
	cmake --build $(SAN_BUILD) -j $(JOBS) --target detinfer_tests detinfer
	@bash tests/server/openai_client/run.sh --install $(SAN_BUILD)
	ctest --test-dir $(SAN_BUILD) -L default --output-on-failure -j $(JOBS) --timeout $(TEST_TIMEOUT)

# aarch64 with Debian's cross compiler (installs g++-aarch64-linux-gnu, qemu-user and the arm64
# libraries), then under qemu-aarch64: the kernel and core tests, and the same requests through
# both builds with identical tokens, logprobs and fingerprints required.
cross-arm64:
	bash scripts/cross-arm64.sh build $(ARM_BUILD)

test-arm64: build cross-arm64
	bash scripts/cross-arm64.sh check $(BUILD) $(ARM_BUILD)

# Slow tests (big shapes), not part of `make test`.
test-large: build
	ctest --test-dir $(BUILD) -L large --output-on-failure

# Benchmarks with the machine's own limits beside every figure; JSON in $(BUILD)/bench.json,
# ratios in $(BUILD)/bench-summary.json (merged: a figure this run did not measure keeps its
# earlier value, time and probes), the time-to-first-token plot in $(BUILD)/ttft.png.
bench: build
	@bash scripts/install-deps.sh gnuplot-nox
	DETINFER_BENCH_SUMMARY=$(BUILD)/bench-summary.json ./$(BUILD)/detinfer_bench --benchmark_out=$(BUILD)/bench.json --benchmark_out_format=json

# The same 110M files through llama.cpp and detinfer, side by side (needs LLAMA_CPP=<a llama.cpp
# tree> and bench/llamacpp/make_models.sh first: bench/llamacpp/README.md).
bench-llamacpp: build
	bash bench/llamacpp/compare.sh

# Retrain the shipped model with its recorded command (docs/training.md) and record its sha256;
# the loss-curve PNG needs gnuplot.
train-default: build
	@bash scripts/install-deps.sh gnuplot-nox
	bash scripts/train-default-model.sh $(BUILD)

# libFuzzer targets for every parser of untrusted input, built with clang in build-fuzz
# (docs/security.md). fuzz-smoke runs each for FUZZ_SECONDS; longer runs: scripts/fuzz.sh run.
FUZZ_SECONDS ?= 30
fuzz:
	@bash scripts/install-deps.sh clang
	bash scripts/fuzz.sh build

fuzz-smoke: fuzz
	bash scripts/fuzz.sh smoke $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(ARM_BUILD) build-fuzz
