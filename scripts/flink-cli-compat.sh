#!/usr/bin/env bash
# make compat: the real Apache Flink CLI (2.3.0 and 1.20.3, from PyPI's apache-flink packages,
# run with the machine's Java) against a yarn-sim Flink session: `flink list -m`, `flink cancel
# -m`, and on a checkpointing job `flink checkpoint -m`, `flink savepoint -m` and `flink stop -m
# --savepointPath` must work unmodified. Downloads ~250 MB per version once into
# target/flink-dist/<version> (scripts/flink-dist.sh). FLINK_VERSIONS picks the versions.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
if [ $# -eq 0 ]; then
  fail=0
  for v in ${FLINK_VERSIONS:-2.3.0 1.20.3}; do "$0" "$v" || fail=1; done
  exit $fail
fi
VER=$1
DIST=target/flink-dist/$VER
command -v java >/dev/null || { echo "compat: java is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
FLINK_HOME=$(./scripts/flink-dist.sh "$VER")
REAL="$FLINK_HOME/bin/flink"
WORK=$(mktemp -d /tmp/yarn-sim-compat.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { "$BIN/yarn-sim" stop --work-dir "$WORK" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$BIN/yarn-sim" start --nodes 2 --detach --work-dir "$WORK" --rm-port "$PORT" >/dev/null
export YARN_CONF_DIR="$WORK/conf"
mkdir -p "$WORK/fc"; echo "yarn.properties-file.location: $WORK" > "$WORK/fc/config.yaml"
FLINK_CONF_DIR="$WORK/fc" "$BIN/yarn-session" -jm 256m -tm 256m -d > "$WORK/session.out"
WEB=$(sed -n 's/^JobManager Web Interface: http:\/\///p' "$WORK/session.out")
printf '[[job]]\nname = "Endless"\n[[job.step]]\nsource = { type = "datagen", kind = "numbers", rate-per-sec = 10, seed = 1 }\n[[job.step]]\nsink = "discard"\n' > "$WORK/e.toml"
JID=$(FLINK_CONF_DIR="$WORK/fc" "$BIN/flink" run -d "$WORK/e.toml" | sed -n 's/^Job has been submitted with JobID //p')
until curl -s "http://$WEB/jobs/$JID" | grep -q '"state":"RUNNING"'; do sleep 0.1; done
export FLINK_HOME
fail=0
out=$("$REAL" list -m "$WEB" 2>&1) || true
echo "$out"
grep -q " : $JID : Endless (RUNNING)" <<<"$out" || { echo "compat: real 'flink list -m' did not show the job"; fail=1; }
out=$("$REAL" cancel -m "$WEB" "$JID" 2>&1) || true
echo "$out"
grep -q "Cancelled job $JID." <<<"$out" || { echo "compat: real 'flink cancel -m' did not cancel"; fail=1; }
until curl -s "http://$WEB/jobs/$JID" | grep -q '"state":"CANCELED"'; do sleep 0.1; done
# Checkpoints, savepoints and stop-with-savepoint on a checkpointing job.
CID=$(FLINK_CONF_DIR="$WORK/fc" "$BIN/flink" run -d -D execution.checkpointing.interval=500ms "$WORK/e.toml" | sed -n 's/^Job has been submitted with JobID //p')
until curl -s "http://$WEB/jobs/$CID/checkpoints" | grep -q '"completed":[1-9]'; do sleep 0.1; done
out=$("$REAL" checkpoint -m "$WEB" "$CID" 2>&1) || true
echo "$out"
grep -q "Checkpoint [0-9]* for job $CID completed." <<<"$out" || { echo "compat: real 'flink checkpoint -m' did not complete"; fail=1; }
SP="$WORK/dfs/savepoints"
out=$("$REAL" savepoint -m "$WEB" "$CID" "file://$SP" 2>&1) || true
echo "$out"
grep -q "Savepoint completed. Path: file:$SP/savepoint-" <<<"$out" || { echo "compat: real 'flink savepoint -m' did not complete"; fail=1; }
out=$("$REAL" stop -m "$WEB" --savepointPath "file://$SP" "$CID" 2>&1) || true
echo "$out"
grep -q "Savepoint completed. Path: file:$SP/savepoint-" <<<"$out" || { echo "compat: real 'flink stop -m' did not complete"; fail=1; }
until curl -s "http://$WEB/jobs/$CID" | grep -q '"state":"FINISHED"'; do sleep 0.1; done
# The real dashboard of this version (its static files from flink-dist's web/, every REST call
# forwarded to our JobManager) in headless Chromium, on a running and a finished job.
if [ -x /usr/bin/chromium ] && command -v node >/dev/null; then
  NODE_DIR=target/compat-node
  [ -d "$NODE_DIR/node_modules/playwright-core" ] || npm install --silent --prefix "$NODE_DIR" playwright-core@1.64.1 >/dev/null
  if [ ! -f "$DIST/web/index.html" ]; then
    python3 - "$DIST/home/lib/flink-dist-$VER.jar" "$DIST" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith("web/")])
PY
  fi
  RID=$(FLINK_CONF_DIR="$WORK/fc" "$BIN/flink" run -d -D execution.checkpointing.interval=500ms "$WORK/e.toml" | sed -n 's/^Job has been submitted with JobID //p')
  until curl -s "http://$WEB/jobs/$RID/checkpoints" | grep -q '"completed":[1-9]'; do sleep 0.1; done
  python3 scripts/compat/dashboard-proxy.py "$DIST/web" "$WEB" "$WORK/dash.port" & PROXY=$!
  trap 'kill $PROXY 2>/dev/null || true; cleanup' EXIT
  until [ -f "$WORK/dash.port" ]; do sleep 0.1; done
  cp scripts/compat/flink-dashboard.mjs "$NODE_DIR/"
  TMID=$(curl -s "http://$WEB/taskmanagers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["taskmanagers"][0]["id"])')
  if ! node "$NODE_DIR/flink-dashboard.mjs" "http://127.0.0.1:$(cat "$WORK/dash.port")" "$RID" "$CID" "$TMID"; then
    echo "compat: the real Flink $VER dashboard shows errors against yarn-sim's REST"; fail=1
  fi
  kill $PROXY 2>/dev/null || true
else
  echo "compat: chromium or node missing; the real dashboard check is skipped"
fi
[ $fail -eq 0 ] && echo "compat: the real Flink $VER CLI lists, cancels, checkpoints, savepoints and stops jobs on yarn-sim unmodified, and its dashboard shows no errors"
exit $fail
