#!/usr/bin/env bash
# make compat, YARN part: a real YARN REST client (PyPI's yarn-api-client 1.0.3, installed into
# target/compat-py) drives a yarn-sim ResourceManager: cluster info, metrics, scheduler, nodes,
# new-application + submit, app state, attempts and their containers, statistics, queue,
# priority, timeouts and kill, with simple auth (`user.name`).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release
PY=target/compat-py
[ -d "$PY/yarn_api_client" ] || python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "$PY" yarn-api-client==1.0.3
WORK=$(mktemp -d /tmp/yarn-sim-yarn-compat.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { "$BIN/yarn-sim" stop --work-dir "$WORK" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$BIN/yarn-sim" start --nodes 2 --detach --work-dir "$WORK" --rm-port "$PORT" >/dev/null
PYTHONPATH="$PY" python3 scripts/compat/yarn-rest-client.py "http://127.0.0.1:$PORT" "$(id -un)"
