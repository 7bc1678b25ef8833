# The README's commands. Everything a fresh machine needs comes from cargo.
CARGO ?= cargo
BIN := target/release

.PHONY: all build demo test lint bench compat fuzz clean

all: build

build:
	$(CARGO) build --release --bins

# A 3-node cluster, a distributed-shell application, its report and logs, teardown.
demo: build
	./scripts/demo.sh

# Unit, property and end-to-end tests (the end-to-end tests drive the debug binaries).
test:
	$(CARGO) build --bins
	$(CARGO) test --workspace --no-fail-fast
	./scripts/lint-determinism.sh

lint:
	./scripts/lint-determinism.sh
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The proptest fuzz targets (REST body readers, program parser, frame decoder) for longer than
# `make test` runs them: FUZZ_CASES cases each (cargo-fuzz would need a nightly toolchain).
FUZZ_CASES ?= 20000
fuzz:
	FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release -p engine -p yarn-sim -p flink-core --lib fuzz

# Speed and memory, as ratios against baselines measured in the same run.
bench: build
	./scripts/bench.sh

# The real Apache Flink CLI (from PyPI, run with Java) against a yarn-sim session.
compat: build
	./scripts/flink-cli-compat.sh

clean:
	$(CARGO) clean
