#!/usr/bin/env bash
# make profile: flame graphs of the two hot paths, so the next speed-up starts from a picture.
#   target/profile/sim-10k.svg       `yarn-sim simulate --nodes 10000` (heartbeats, no apps)
#   target/profile/shuffle-tm.svg    both TaskManagers of the keyed shuffle `make bench` runs
# Sampling is perf's (Debian's linux-perf, installed with apt-get when missing and we are
# root); folding and drawing are inferno's, installed with `cargo install` into target/tools.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
OUT=target/profile
TOOLS=target/tools
SIM_SECS=${PROFILE_SIM_SECS:-120}
N=${PROFILE_SHUFFLE_RECORDS:-2000000}
mkdir -p "$OUT"
rm -f "$OUT"/*.data "$OUT"/*.data.old

. scripts/lib.sh
need perf linux-perf profile
if [ ! -x "$TOOLS/bin/inferno-flamegraph" ]; then
  cargo install --quiet --locked --root "$TOOLS" inferno --version 0.12.8
fi
# Without this, perf may only sample our own user-space code or refuse entirely.
[ "$(id -u)" = 0 ] && echo -1 > /proc/sys/kernel/perf_event_paranoid 2>/dev/null || true

draw() { # perf.data title out.svg
  perf script -i "$1" 2>/dev/null | "$TOOLS/bin/inferno-collapse-perf" | "$TOOLS/bin/inferno-flamegraph" --title "$2" > "$3"
  echo "profile: $3"
}

echo "== the simulator: 10,000 NodeManagers for $SIM_SECS simulated seconds"
perf record -F 499 --call-graph dwarf,16384 -o "$OUT/sim.data" "$BIN/yarn-sim" simulate --nodes 10000 --apps 0 --duration-secs "$SIM_SECS" 2>/dev/null | grep -E 'wall time|events'
draw "$OUT/sim.data" "yarn-sim simulate --nodes 10000 ($SIM_SECS s)" "$OUT/sim-10k.svg"

echo "== the keyed shuffle: $N records, 2 TaskManagers"
WORK=$(mktemp -d /tmp/yarn-sim-profile.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { "$BIN/yarn-sim" stop --work-dir "$WORK" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$BIN/yarn-sim" start --nodes 3 --detach --work-dir "$WORK" --rm-port "$PORT" >/dev/null
export YARN_CONF_DIR="$WORK/conf" FLINK_CONF_DIR="$WORK/flink-conf"
mkdir -p "$FLINK_CONF_DIR"
printf 'yarn.properties-file.location: %s\n' "$WORK" > "$FLINK_CONF_DIR/config.yaml"
"$BIN/yarn-session" -jm 256m -tm 1024m -s 1 -d > "$WORK/session.out"
./scripts/shuffle-job.sh "$N" > "$WORK/shuffle.toml"
# A warm-up run brings up the two TaskManagers; the profiled run reuses them.
"$BIN/flink" run -p 2 "$WORK/shuffle.toml" | grep 'Job Runtime'
tms=$(for p in $(pgrep -f "$BIN/taskexec" || true); do
  # This cluster's containers: their environment names directories under $WORK.
  tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -q "^CONTAINER_ID=" \
    && tr '\0' '\n' < "/proc/$p/environ" | grep -qF "$WORK" && echo "$p"
done | paste -sd, -)
[ -n "$tms" ] || { echo "profile: no TaskManager processes found" >&2; exit 1; }
perf record -F 499 --call-graph dwarf,16384 -p "$tms" -o "$OUT/shuffle.data" 2>/dev/null &
rec=$!
sleep 0.5
"$BIN/flink" run -p 2 "$WORK/shuffle.toml" | grep 'Job Runtime'
kill -INT "$rec"; wait "$rec" || true
draw "$OUT/shuffle.data" "keyed shuffle, $N records, TaskManagers $tms" "$OUT/shuffle-tm.svg"
