#!/usr/bin/env bash
# Determinism lint (DESIGN.md §3): node code reads no clock, uses no OS randomness, spawns no
# thread or task, does no IO of its own and keeps no unordered map. The rules are clippy's
# `disallowed-types` / `disallowed-methods` in clippy.toml, so they follow paths through
# aliases and re-exports and cover every file of every crate; the live driver, CLIs, process
# mains, REST adapters and tests that may do these things carry an explicit
# `#[allow(clippy::disallowed_types, clippy::disallowed_methods)]` with a comment why.
set -uo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
export CLIPPY_CONF_DIR="$PWD"
only=(-A clippy::all -D clippy::disallowed_types -D clippy::disallowed_methods)

# The lint must be able to fail: a fixture breaks every rule once, and each must be reported.
fixture=$(CARGO_TARGET_DIR=target/lint-fixture $CARGO clippy -q --manifest-path scripts/lint-fixture/Cargo.toml -- "${only[@]}" 2>&1)
if [ $? -eq 0 ]; then
  echo "determinism lint: the fixture passed clippy, so the lint checks nothing"
  exit 1
fi
for item in std::collections::HashMap std::collections::HashSet std::time::Instant::now std::time::SystemTime::now \
  std::thread::spawn std::env::var std::fs::read; do
  if ! grep -q "use of a disallowed [a-z]* \`$item\`" <<<"$fixture"; then
    echo "determinism lint: clippy no longer reports $item in scripts/lint-fixture"
    echo "$fixture"
    exit 1
  fi
done

if ! $CARGO clippy -q --workspace --all-targets -- "${only[@]}"; then
  echo "determinism lint: failed (clippy's output above). A 'disallowed' error is node code using a clock,"
  echo "OS randomness, threads, IO or an unordered map: use cx.now(), cx.rng(), effects, cx.store(), BTreeMap"
  exit 1
fi
echo "determinism lint: workspace clean (clippy disallowed-types/methods, clippy.toml)"
