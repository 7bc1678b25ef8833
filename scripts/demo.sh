#!/usr/bin/env bash
# make demo: a 3-node cluster, a distributed-shell application, what YARN shows of it, teardown.
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

say "yarn node -list -all"
"$BIN/yarn" node -list -all

say "yarn-sim dshell --num-containers 3 --shell-command 'hostname; echo hello'"
"$BIN/yarn-sim" dshell --num-containers 3 --shell-command 'hostname; echo hello' | tee "$WORK/dshell.out"
APP=$(sed -n 's/^Submitted application //p' "$WORK/dshell.out")

say "yarn application -list -appStates ALL"
"$BIN/yarn" application -list -appStates ALL
say "yarn application -status $APP"
"$BIN/yarn" application -status "$APP"
say "yarn logs -applicationId $APP -log_files stdout"
"$BIN/yarn" logs -applicationId "$APP" -log_files stdout
say "curl -H 'Accept: application/xml' 127.0.0.1:$PORT/ws/v1/cluster/apps"
curl -s -H 'Accept: application/xml' "127.0.0.1:$PORT/ws/v1/cluster/apps"; echo
say yarn-sim stop
"$BIN/yarn-sim" stop --work-dir "$WORK"
