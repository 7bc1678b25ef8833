#!/usr/bin/env bash
# Determinism lint (DESIGN.md §3): node code reads no clock, spawns no thread, uses no OS RNG,
# does no IO of its own and never iterates an unordered map. Node code is everything under the
# crates' src/ except the drivers and adapters that are allowed IO: engine's live driver,
# binaries, CLIs, REST/web adapters, and test modules.
set -u
cd "$(dirname "$0")/.."
roots=(engine/src yarn-sim/src flink-core/src flink-am/src taskexec/src)
allowed='/(live|bin|cli|rest|web|client)(/|\.rs)|/tests?(/|\.rs)|/main\.rs|/conf\.rs'
files=$(for r in "${roots[@]}"; do [ -d "$r" ] && find "$r" -name '*.rs'; done | grep -Ev "$allowed" | sort)
fail=0
check() { # pattern, message
  local hits
  hits=$(grep -nE "$1" $files /dev/null | grep -v 'lint: allow' | grep -vE '^\S+:[0-9]+:\s*//')
  if [ -n "$hits" ]; then
    echo "determinism lint: $2"
    echo "$hits" | sed 's/^/    /'
    fail=1
  fi
}
check 'Instant::now|SystemTime::now|UNIX_EPOCH|chrono::' "wall clock in node code (use cx.now())"
check 'thread_rng|rand::rng\(|OsRng|from_entropy|from_os_rng|getrandom' "OS randomness in node code (use cx.rng())"
check 'std::thread|thread::spawn|tokio::spawn|spawn_blocking|std::sync::Mutex|tokio::' "threads or async runtime in node code"
check 'std::fs|File::open|File::create|std::net::Tcp|UdpSocket|std::process::Command|std::env::var' "IO in node code (use cx.store() / cx.local_* / effects)"
check 'HashMap|HashSet' "unordered map in node code (use BTreeMap/BTreeSet; mark pure lookups with '// lint: allow lookup-only')"
check 'std::time::Instant|SystemTime' "wall-clock types in node code"
# The check must be able to fail: it scans at least the engine's node modules.
[ -n "$files" ] || { echo "determinism lint: no node code found"; exit 1; }
[ $fail -eq 0 ] && echo "determinism lint: $(echo "$files" | wc -l) node-code files clean"
exit $fail
