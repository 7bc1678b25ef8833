#!/usr/bin/env bash
# REST under load (issue 8, Speed): 50 concurrent clients against the RM's REST API and against
# the Flink AM's REST API for 10 s each (p50/p99 latency, errors, RM RSS before and after), then
# the RM's RSS with 10,000 finished applications retained
# (yarn.resourcemanager.max-completed-applications=10000; YARN's default keeps 1000).
# Prints table rows ("| measure | result | target | baseline |"); scripts/bench.sh adds them to
# its table. BIN picks the binaries (default target/release).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
CLIENTS=${BENCH_REST_CLIENTS:-50}
SECS=${BENCH_REST_SECS:-10}
APPS=${BENCH_RETAINED_APPS:-10000}
WORK=$(mktemp -d /tmp/yarn-sim-restbench.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
APP=""
cleanup() {
  [ -n "$APP" ] && { echo stop | "$BIN/yarn-session" -id "$APP" >/dev/null 2>&1 || true; }
  "$BIN/yarn-sim" stop --work-dir "$WORK" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
mib() { echo "$(($1 / 1024)).$(((($1 % 1024) * 10) / 1024)) MiB"; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

cat > "$WORK/site.xml" <<XML
<configuration>
<property><name>yarn.resourcemanager.max-completed-applications</name><value>$APPS</value></property>
</configuration>
XML
"$BIN/yarn-sim" start --nodes 2 --detach --work-dir "$WORK" --rm-port "$PORT" --conf "$WORK/site.xml" >/dev/null
RM="http://127.0.0.1:$PORT"
export YARN_CONF_DIR="$WORK/conf"
mkdir -p "$WORK/flink-conf"
printf 'yarn.properties-file.location: %s\n' "$WORK" > "$WORK/flink-conf/config.yaml"
export FLINK_CONF_DIR="$WORK/flink-conf"
"$BIN/yarn-session" -jm 256m -tm 512m -s 1 -d > "$WORK/session.out"
WEB=$(sed -n 's/^JobManager Web Interface: //p' "$WORK/session.out")
APP=$(sed -n 's/^Submitted application //p' "$WORK/session.out")
RM_PID=$(cat "$WORK/run/resourcemanager.pid")
sleep 1

before=$(rss_kib "$RM_PID")
out=$(python3 scripts/restload.py load --clients "$CLIENTS" --secs "$SECS" \
  "$RM/ws/v1/cluster/apps" "$RM/ws/v1/cluster/metrics" "$RM/ws/v1/cluster/apps/$APP" \
  "$RM/ws/v1/cluster/scheduler" "$RM/ws/v1/cluster/nodes" "$RM/ws/v1/cluster/apps/$APP/appattempts")
after=$(rss_kib "$RM_PID")
echo "| REST load: ${CLIENTS} clients x ${SECS} s on the RM (apps, app, metrics, scheduler, nodes, attempts) | p99 $(field p99 "$out") ms, p50 $(field p50 "$out") ms, $(field errors "$out") errors, $(field rps "$out") req/s | 0 errors (p99 reported: the issue sets no figure) | RM RSS $(mib "$before") before, $(mib "$after") after |"

out=$(python3 scripts/restload.py load --clients "$CLIENTS" --secs "$SECS" \
  "$WEB/overview" "$WEB/jobs/overview" "$WEB/config" "$WEB/taskmanagers" "$WEB/jobmanager/config")
echo "| REST load: ${CLIENTS} clients x ${SECS} s on the Flink AM (overview, jobs, config, taskmanagers) | p99 $(field p99 "$out") ms, p50 $(field p50 "$out") ms, $(field errors "$out") errors, $(field rps "$out") req/s | 0 errors (p99 reported: the issue sets no figure) | the same clients, same machine |"

idle=$(rss_kib "$RM_PID")
t0=$(date +%s%3N)
filled=$(python3 scripts/restload.py fill --rm "$RM" --apps "$APPS")
t1=$(date +%s%3N)
sleep 1
full=$(rss_kib "$RM_PID")
# Then list them all once (as the RM UI or `yarn application -list -appStates ALL` would).
t2=$(date +%s%3N)
retained=$(curl -s "$RM/ws/v1/cluster/apps?states=KILLED" | python3 -c 'import json,sys; a=json.load(sys.stdin)["apps"]; print(len(a["app"]) if a else 0)')
t3=$(date +%s%3N)
listed=$(rss_kib "$RM_PID")
echo "| RM RSS with ${retained} finished applications retained (max-completed-applications=${APPS}) | $(mib "$full"); $(mib "$listed") after one GET /apps of all of them | < 50 MiB | $(mib "$idle") before; ${filled#killed=} submitted and killed in $((t1 - t0)) ms; the GET took $((t3 - t2)) ms |"
