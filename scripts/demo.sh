#!/usr/bin/env bash
# make demo: a 3-node YARN cluster, a distributed-shell app, a Flink session running a
# streaming WordCount, its output, and teardown.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
WORK=$(mktemp -d /tmp/yarn-sim-demo.XXXXXX)
PORT=${DEMO_RM_PORT:-8088}
cleanup() { "$BIN/yarn-sim" stop --work-dir "$WORK" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say yarn-sim start --nodes 3 --detach
"$BIN/yarn-sim" start --nodes 3 --detach --work-dir "$WORK" --rm-port "$PORT"
export YARN_CONF_DIR="$WORK/conf"
# Keep this demo's .yarn-properties file inside its work dir.
mkdir -p "$WORK/flink-conf"
echo "yarn.properties-file.location: $WORK" > "$WORK/flink-conf/config.yaml"
export FLINK_CONF_DIR="$WORK/flink-conf"

say "yarn-sim dshell --num-containers 3 --shell-command 'hostname; echo hello'"
"$BIN/yarn-sim" dshell --num-containers 3 --shell-command 'hostname; echo hello' | tail -2

say "yarn-session -jm 1024m -tm 2048m -s 2 -nm demo -d"
"$BIN/yarn-session" -jm 1024m -tm 2048m -s 2 -nm demo -d | tee "$WORK/session.out" | grep -v '^\$\|^If this\|^Note that\|^The Flink YARN'
APP=$(sed -n 's/^Submitted application //p' "$WORK/session.out")

say "flink run -p 4 examples/streaming/WordCount.toml --input README.md"
"$BIN/flink" run -p 4 examples/streaming/WordCount.toml --input README.md

say "flink list -a"
"$BIN/flink" list -a

say "yarn logs -applicationId $APP -log_files taskmanager.out | grep '> (' | tail"
"$BIN/yarn" logs -applicationId "$APP" -log_files taskmanager.out | grep '> (' | tail -8

say "yarn application -list -appStates ALL"
"$BIN/yarn" application -list -appStates ALL

say "echo stop | yarn-session -id $APP"
echo stop | "$BIN/yarn-session" -id "$APP" | tail -2

say yarn-sim stop
"$BIN/yarn-sim" stop --work-dir "$WORK"

# What the project is for: a failure scenario against real processes (a TaskManager killed
# mid-job), its verdicts and its timeline.
say "scenario run scenarios/library/tm-killed-mid-job.toml --mode live"
"$BIN/scenario" run scenarios/library/tm-killed-mid-job.toml --mode live --quiet
