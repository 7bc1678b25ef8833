# The README's commands. Everything a fresh machine needs comes from cargo.
CARGO ?= cargo
BIN := target/release

.PHONY: all build demo test lint bench compat clean scenarios fuzz chromium profile zookeeper sim-build prefetch-coverage scale-gap parallel-probe

all: build

build:
	$(CARGO) build --release --bins

# A 3-node cluster, a distributed-shell application, its report and logs, teardown.
demo: build
	./scripts/demo.sh

# Unit, property and end-to-end tests (the end-to-end tests drive the debug binaries).
test: chromium zookeeper
	$(CARGO) build --bins
	$(CARGO) test --workspace --no-fail-fast
	./scripts/lint-determinism.sh
	$(SCENARIO) run scenarios/library/*.toml --mode sim --quiet
	$(SCENARIO) fuzz --seeds 1..201 --kinds process --jobs 2

# Failure scenarios (scenarios/library): all in the simulator, the live subset against real
# processes, and a slice of fault search. Reports go to target/scenarios/.
SCENARIO := target/debug/scenario
LIVE_SCENARIOS := tm-killed-mid-job tm-dies-silently per-job-tm-term nm-killed-and-restarted \
	nm-hosting-am-lost nm-hosting-tms-lost am-killed-no-ha am-killed-second-attempt \
	cancel-releases-taskmanagers fault-free-output-baseline \
	tm-killed-mid-checkpoint stateful-count-tm-killed stop-with-savepoint stop-with-savepoint-failure \
	tm-jm-partition tm-to-jm-one-way-partition slow-tm-backpressure \
	am-killed-ha am-zookeeper-partition crash-between-metadata-and-zk ha-app-mode-job-ids
# Live scenarios at once: each waits on heartbeats and timeouts most of the time, so four share
# two cores without slowing each other down; six made one miss its timing here.
LIVE_JOBS ?= 4
scenarios: chromium zookeeper
	$(CARGO) build --bins
	$(SCENARIO) run scenarios/library/*.toml --mode sim --quiet
	$(SCENARIO) run $(LIVE_SCENARIOS:%=scenarios/library/%.toml) --mode live --quiet --jobs $(LIVE_JOBS)
	$(CARGO) test -p scenarios --test sim the_timeline_renders_in_headless_chromium -- --nocapture
	$(SCENARIO) fuzz --seeds 1..101 --kinds process --jobs 2

# The browser tests (the timeline in scenarios/tests/sim.rs, the RM UI and Flink dashboard in
# tests/tests/web.rs) run when /usr/bin/chromium exists;
# install it with apt-get when we are root and apt is there, else say why the test will skip.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1) \
		|| echo "chromium: apt-get install failed; the browser tests will skip"; \
	else echo "chromium: not installed and apt-get unavailable (or not root); the browser tests will skip"; fi

# Flame graphs of the 10k-node simulation and of the keyed shuffle's TaskManagers
# (perf + inferno) in target/profile/.
profile: build
	./scripts/profile.sh

# Which cache lines a heartbeat of 10,000 NodeManagers reads from memory, and which of them a
# prefetch asked for first (callgrind's cache model, prefetches built as loads).
prefetch-coverage:
	./scripts/prefetch-coverage.sh

# Where 10,000 NodeManagers spend the time 1,000 doing the same heartbeats do not (perf's CPU
# clock samples, put back on our source). See scripts/scale-gap.sh.
scale-gap:
	./scripts/scale-gap.sh

# What a conservative two-thread simulation could win on this machine: the heartbeat model's
# events run on one thread and split over two (scripts/parallel-probe.rs, plain rustc). NODES, SECS.
parallel-probe:
	bash -c '. scripts/lib.sh && probe_bin parallel-probe'
	target/parallel-probe $${NODES:-10000} $${SECS:-60}

# The live HA tests (tests/tests/ha.rs) and `yarn-sim start --zookeeper` need a real ZooKeeper:
# Debian's zookeeper package, installed with apt-get when we are root, else they skip.
zookeeper:
	@./scripts/install-zookeeper.sh

lint:
	./scripts/lint-determinism.sh
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Longer fuzzing than `make test` does: the proptest fuzz targets (REST body readers, program
# parser, frame decoder), FUZZ_CASES cases each (cargo-fuzz would need a nightly toolchain);
# then fault search with network faults too (partitions, clogs, dropped heartbeats), which
# prints each violation's seed and writes a shrunk scenario to target/scenarios/fuzz/.
FUZZ_CASES ?= 20000
fuzz:
	FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release -p engine -p yarn-sim -p flink-core --lib fuzz
	# Hadoop IPC: random and mutated byte streams into the server connection (framing, SASL,
	# context, calls), random credentials blobs and DIGEST-MD5 responses.
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p hadoop-rpc --lib -- never_panic any_
	FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release -p yarn-sim --lib hrpc::
	$(CARGO) build --bins
	$(SCENARIO) fuzz --seeds 1..201 --kinds all --jobs 2

# Speed and memory, as ratios against baselines measured in the same run.
bench: build sim-build zookeeper
	./scripts/bench.sh

# The simulation build: yarn-sim for long simulated runs, profile-guided and panic=abort
# (target/sim/release/yarn-sim; it runs `simulate` only). See scripts/sim-build.sh.
sim-build:
	./scripts/sim-build.sh

# Only the rows side by side with Apache Flink 2.3 standalone (bench runs them too).
.PHONY: bench-flink
bench-flink: build
	./scripts/bench-flink-real.sh

# The real Apache Flink CLI (from PyPI, run with Java) against a yarn-sim session.
compat: build chromium
	./scripts/flink-cli-compat.sh
	./scripts/yarn-rest-compat.sh
	./scripts/hadoop-rpc-compat.sh
	./scripts/flink-yarn-compat.sh
	FLINK_HOME=$$(./scripts/flink-dist.sh 2.3.0) HADOOP_CLASSPATH=$$(./scripts/hadoop-client.sh) $(BIN)/scenario run scenarios/library-real/*.toml --mode live --flink real

clean:
	$(CARGO) clean
