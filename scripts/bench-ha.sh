#!/usr/bin/env bash
# High-availability rows of `make bench` (scripts/bench.sh runs this; it also runs alone):
#  - AM kill -9 to the job RUNNING on attempt 2 with its state restored, on a real ZooKeeper
#    with harness expiries (a 1 s ZooKeeper session: the dead leader's latch goes with it);
#  - RM kill -9 and restart with work-preserving recovery to every NM resynced (RUNNING again)
#    and the application RUNNING in the recovered RM.
# Prints one line per row: "row<TAB>measure<TAB>result<TAB>target<TAB>baseline".
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
WORK=$(mktemp -d /tmp/yarn-sim-bench-ha.XXXXXX)
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free); ZK=$(free)
cleanup() { "$BIN/yarn-sim" stop --work-dir "$WORK" >/dev/null 2>&1 || true; [ -n "${RMPID:-}" ] && kill -9 "$RMPID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
ms() { date +%s%3N; }
# Every wait gives up after 60 s (a hung row must not hang make bench).
deadline() { DEADLINE=$(($(ms) + 60000)); }
check() { [ "$(ms)" -lt "$DEADLINE" ] || { echo "bench-ha: timed out waiting for $1" >&2; exit 1; }; }
RM="http://127.0.0.1:$PORT/ws/v1/cluster"
# ACLs are on: a request without user.name is dr.who and sees no AM container ids.
UQ="user.name=$(id -un)"
if [ ! -f /usr/share/java/zookeeper.jar ]; then
  printf 'row\tHA: AM kill -9 to job RUNNING on attempt 2\tskipped (no ZooKeeper: scripts/install-zookeeper.sh)\t<= 2 s\t-\n'
  exit 0
fi
cat > "$WORK/recovery.xml" <<'XML'
<configuration>
<property><name>yarn.resourcemanager.recovery.enabled</name><value>true</value></property>
<property><name>yarn.nodemanager.recovery.enabled</name><value>true</value></property>
<property><name>yarn.resourcemanager.am.max-attempts</name><value>3</value></property>
</configuration>
XML
"$BIN/yarn-sim" start --nodes 3 --detach --work-dir "$WORK" --rm-port "$PORT" --zookeeper --zookeeper-port "$ZK" --conf "$WORK/recovery.xml" >/dev/null
export YARN_CONF_DIR="$WORK/conf"
mkdir -p "$WORK/flink-conf"
printf 'yarn.properties-file.location: %s\n' "$WORK" > "$WORK/flink-conf/config.yaml"
export FLINK_CONF_DIR="$WORK/flink-conf"
"$BIN/yarn-session" -jm 256m -tm 512m -s 2 -d -D high-availability.type=zookeeper \
  -D "high-availability.zookeeper.quorum=127.0.0.1:$ZK" -D high-availability.storageDir=ha \
  -D high-availability.zookeeper.client.session-timeout=1s -D yarn.application-attempts=3 \
  -D execution.checkpointing.interval=500ms > "$WORK/session.out"
APP=$(sed -n 's/^Submitted application //p' "$WORK/session.out")
WEB=$(sed -n 's/^JobManager Web Interface: http:\/\///p' "$WORK/session.out")
JID=$("$BIN/flink" run -d -p 2 examples/streaming/StatefulCount.toml --output out/ha --count 200000 --rate 1000 | sed -n 's/^Job has been submitted with JobID //p')
completed() { curl -s "http://$1/jobs/$JID/checkpoints" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["completed"])' 2>/dev/null || echo 0; }
deadline
until [ "$(completed "$WEB")" -ge 2 ]; do check "two completed checkpoints"; sleep 0.1; done
attempt_container() { curl -s "$RM/apps/$APP/appattempts?$UQ" | python3 -c "import json,sys; a=json.load(sys.stdin)['appAttempts']['appAttempt']; print(a[$1-1]['containerId'] if len(a)>=$1 and a[$1-1]['appAttemptState']=='RUNNING' else '')" 2>/dev/null || true; }
C1=$(attempt_container 1)
AMPID=""
for p in $(ls /proc | grep -E '^[0-9]+$'); do
  if [ "$(readlink "/proc/$p/cwd" 2>/dev/null)" != "" ] && readlink "/proc/$p/cwd" | grep -q "/$C1\$" && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q '^[^ ]*flink-am '; then AMPID=$p; fi
done
t0=$(ms)
kill -9 "$AMPID"
deadline
C2=""; until [ -n "$C2" ]; do check "attempt 2 RUNNING"; C2=$(attempt_container 2); sleep 0.01; done
LOG=$(ls -d "$WORK"/nm-*/logs/"$APP"/"$C2" | head -1)/jobmanager.log
deadline
until [ -f "$LOG" ] && grep -q "REST endpoint" "$LOG"; do check "the new AM's REST endpoint"; sleep 0.01; done
WEB2=$(sed -n 's/.*(REST endpoint http:\/\/\(.*\))/\1/p' "$LOG" | head -1)
deadline
until grep -q "Restoring job $JID" "$LOG" && curl -s "http://$WEB2/jobs/$JID" | grep -q '"state":"RUNNING"'; do check "the job RUNNING on attempt 2, restored"; sleep 0.01; done
t1=$(ms)
printf 'row\tHA: AM kill -9 to job RUNNING on attempt 2, state restored\t%s ms\t<= 2 s (YARNHighAvailabilityITCase: minutes)\tZooKeeper session 1 s; TaskManagers kept\n' "$((t1 - t0))"

RMPID_OLD=$(cat "$WORK/run/resourcemanager.pid")
resyncs() { grep -c "AM should re-register" "$LOG" || true; }
before=$(resyncs)
t0=$(ms)
kill -9 "$RMPID_OLD"
# As an operator would: the new RM starts once the old process is gone (its port is free).
deadline
# Gone means dead: a zombie (not yet reaped by its adoptive parent) holds no socket.
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${st#Z}" = "$st" ]; }
while alive "$RMPID_OLD"; do check "the killed RM to be gone"; sleep 0.001; done
"$BIN/yarn-sim" resourcemanager --conf-dir "$WORK/conf" > "$WORK/logs/resourcemanager-2.log" 2>&1 &
RMPID=$!
running_nodes() { curl -s "$RM/nodes?$UQ" | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin)["nodes"]["node"] if n["state"]=="RUNNING"))' 2>/dev/null || echo 0; }
deadline
until [ "$(running_nodes)" -ge 3 ] && curl -s "$RM/apps/$APP?$UQ" | grep -q '"state":"RUNNING"'; do check "the NMs resynced and the app RUNNING"; sleep 0.005; done
t1=$(ms)
# The AM learns of the restart from its next allocate (ApplicationMasterNotRegisteredException,
# "... AM should re-register.") and registers again at once.
deadline
until [ "$(resyncs)" -gt "$before" ]; do check "the AM to re-register"; sleep 0.005; done
t2=$(ms)
printf 'row\tHA: RM kill -9 + restart to all NMs resynced, app RUNNING\t%s ms (AM re-registering at %s ms)\t<= 500 ms\tincludes the new RM process start; the AM heartbeats every 1 s\n' "$((t1 - t0))" "$((t2 - t0))"
