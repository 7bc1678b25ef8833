#!/usr/bin/env bash
# make sim-build: the simulation build of yarn-sim, target/sim/release/yarn-sim.
#
# The same source as target/release/yarn-sim, compiled for one job, long simulated runs:
#   - profile-guided (PGO): an instrumented build runs TRAINING below, a mixed set of smaller
#     simulations (apps on 1,000 nodes, 2,000 nodes heartbeating, a scheduler-bound burst),
#     and the final build lays out branches and inlines calls by what those runs did;
#   - panic=abort: no unwinding paths (landing pads, drops on unwind) in the event loop.
# The binary runs `simulate` and refuses every other command (a daemon must not abort on a
# panic in one request's handler). Same code, same events: its trace hashes equal the
# release build's (`make bench` checks that on the row it measures).
#
# Needs llvm-profdata matching rustc's LLVM: rustup's llvm-tools component, added here when
# missing. Without it the build is made with panic=abort alone and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_INCREMENTAL=0
# SIM_BUILD_DIR: where the three steps build (default target/sim, its -gen and -profiles
# beside it). SIM_BUILD_LINE_TABLES=1: with line tables and symbols kept, for tools that map
# samples back to source (scripts/scale-gap.sh); the code is the same.
OUT_DIR=${SIM_BUILD_DIR:-target/sim}
GEN_DIR=$OUT_DIR-gen
# Beside the build dir, which may be given relative to the repo or absolute.
case $OUT_DIR in
  /*) PROFILES=$OUT_DIR-profiles ;;
  *) PROFILES=$PWD/$OUT_DIR-profiles ;;
esac
EXTRA_FLAGS=""
if [ "${SIM_BUILD_LINE_TABLES:-0}" = 1 ]; then
  EXTRA_FLAGS="-Cdebuginfo=line-tables-only"
  export CARGO_PROFILE_RELEASE_STRIP=none
fi
SYSROOT=$(rustc --print sysroot)
HOST=$(rustc -vV | sed -n 's/^host: //p')
PROFDATA=$SYSROOT/lib/rustlib/$HOST/bin/llvm-profdata

if [ ! -x "$PROFDATA" ] && command -v rustup >/dev/null 2>&1; then
  echo "sim-build: adding rustup's llvm-tools component (llvm-profdata)"
  rustup component add llvm-tools >/dev/null 2>&1 || rustup component add llvm-tools-preview >/dev/null 2>&1 || true
fi

TRAINING=(
  "simulate"
  "simulate --nodes 2000 --apps 0 --duration-secs 120"
  "simulate --nodes 2000 --apps 20 --containers-per-app 500 --arrival-secs 1 --max-container-secs 3600 --duration-secs 20"
)

if [ -x "$PROFDATA" ]; then
  echo "sim-build: 1/3 instrumented build ($GEN_DIR)"
  rm -rf "$PROFILES"
  mkdir -p "$PROFILES"
  YARN_SIM_SIMULATION_BUILD="profile-guided by training runs" RUSTFLAGS="$EXTRA_FLAGS -Cpanic=abort -Cprofile-generate=$PROFILES/raw" \
    cargo build --quiet --release -p yarn-sim --bin yarn-sim --target-dir "$GEN_DIR"
  echo "sim-build: 2/3 training runs"
  for t in "${TRAINING[@]}"; do
    # shellcheck disable=SC2086 # each entry is a command line
    LLVM_PROFILE_FILE="$PROFILES/raw/yarn-sim-%m.profraw" "$GEN_DIR/release/yarn-sim" $t | sed -n 's/^wall time: /  '"$t"': /p'
  done
  "$PROFDATA" merge -o "$PROFILES/yarn-sim.profdata" "$PROFILES"/raw/*.profraw
  echo "sim-build: 3/3 optimized build ($OUT_DIR)"
  YARN_SIM_SIMULATION_BUILD="profile-guided by training runs" RUSTFLAGS="$EXTRA_FLAGS -Cpanic=abort -Cprofile-use=$PROFILES/yarn-sim.profdata" \
    cargo build --quiet --release -p yarn-sim --bin yarn-sim --target-dir "$OUT_DIR"
else
  echo "sim-build: llvm-profdata not found (rustup's llvm-tools): building with panic=abort only, no profile"
  YARN_SIM_SIMULATION_BUILD="no profile: llvm-profdata missing" RUSTFLAGS="$EXTRA_FLAGS -Cpanic=abort" \
    cargo build --quiet --release -p yarn-sim --bin yarn-sim --target-dir "$OUT_DIR"
fi
echo "sim-build: $OUT_DIR/release/yarn-sim"
