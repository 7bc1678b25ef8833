#!/usr/bin/env bash
# make compat: the real Apache Flink 2.3.0 (PyPI's apache-flink + apache-flink-libraries, run with
# the machine's Java) deploys on yarn-sim unmodified over Hadoop RPC, with Hadoop 3.5.0's shaded
# client jars (scripts/hadoop-client.sh) as HADOOP_CLASSPATH:
#   1. yarn-session.sh -d                      until "JobManager Web Interface" (timed)
#   2. flink run -d CompatJob (endless)        into the session; RUNNING
#   3. kill -9 of the real TaskManager         the job restarts on a new TaskManager
#   4. kill -9 of the real JobManager (AM)     with yarn.application-attempts=2, attempt 2 starts
#   5. flink run -t yarn-application CompatJob 2000   the application FINISHES SUCCEEDED (Flink 2.x
#      dropped the `run-application` action; `run -t yarn-application` is its replacement)
# Every step's output is checked; the job jar is compiled here with javac (no example jars ship).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
command -v java >/dev/null && command -v javac >/dev/null && command -v jar >/dev/null \
  || { echo "compat: java, javac and jar are required (apt-get install openjdk-17-jdk-headless)"; exit 1; }
FLINK_HOME=$(./scripts/flink-dist.sh 2.3.0)
HADOOP_CLASSPATH=$(./scripts/hadoop-client.sh)
export FLINK_HOME HADOOP_CLASSPATH
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
export JAVA_HOME
WORK=$(mktemp -d /tmp/yarn-sim-flink-yarn.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
APPS=()
cleanup() {
  for a in "${APPS[@]}"; do "$BIN/yarn" application -kill "$a" >/dev/null 2>&1 || true; done
  "$BIN/yarn-sim" stop --work-dir "$WORK" >/dev/null 2>&1 || true
  for a in "${APPS[@]}"; do rm -rf "$HOME/.flink/$a"; done
  if [ -n "${KEEP_WORK:-}" ]; then echo "compat: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
log() { echo "compat: $*"; }
fail=0
die() { log "$*"; echo "--- RM log"; tail -40 "$WORK/logs/resourcemanager.log" 2>/dev/null || true; exit 1; }

# The cluster: `yarn-sim start` with HADOOP_CLASSPATH set writes yarn.application.classpath
# ($HADOOP_CONF_DIR and those jars; Flink reads it on the client and puts it on the AM's and
# TaskManagers' CLASSPATH).
cat > "$WORK/extra-site.xml" <<XML
<?xml version="1.0"?>
<configuration>
  <property><name>yarn.resourcemanager.am.max-attempts</name><value>2</value></property>
  <!-- A JVM JobManager needs seconds to start and register; the harness's 5 s is for our own AMs. -->
  <property><name>yarn.am.liveness-monitor.expiry-interval-ms</name><value>60000</value></property>
</configuration>
XML
"$BIN/yarn-sim" start --nodes 3 --detach --work-dir "$WORK" --rm-port "$PORT" --conf "$WORK/extra-site.xml" >/dev/null
export HADOOP_CONF_DIR="$WORK/conf" YARN_CONF_DIR="$WORK/conf"
export YARN_SIM_RM="127.0.0.1:$PORT"

# Flink's configuration: the distribution's, with the YARN properties file in the work dir.
mkdir -p "$WORK/flink-conf"
cp "$FLINK_HOME"/conf/* "$WORK/flink-conf/"
cat >> "$WORK/flink-conf/config.yaml" <<YAML
yarn:
  properties-file:
    location: $WORK
  application-attempts: 2
restart-strategy:
  type: fixed-delay
  fixed-delay:
    attempts: 10
    delay: 1 s
YAML
export FLINK_CONF_DIR="$WORK/flink-conf"

javac -nowarn -d "$WORK/classes" -cp "$FLINK_HOME/lib/*" scripts/hadoop-compat/CompatJob.java 2>&1 | grep -v '^Note:' || true
jar cfe "$WORK/compat-job.jar" CompatJob -C "$WORK/classes" .

# 1. yarn-session.sh -d
t0=$(date +%s%N)
"$FLINK_HOME/bin/yarn-session.sh" -d -jm 1024m -tm 1024m > "$WORK/session.out" 2>&1 || { cat "$WORK/session.out"; die "yarn-session.sh -d failed"; }
t1=$(date +%s%N)
WEB=$(sed -n 's/.*JobManager Web Interface: http:\/\///p' "$WORK/session.out" | tail -1)
SESSION=$(grep -o 'application_[0-9]*_[0-9]*' "$WORK/session.out" | tail -1)
[ -n "$WEB" ] && [ -n "$SESSION" ] || { cat "$WORK/session.out"; die "yarn-session.sh printed no JobManager Web Interface"; }
APPS+=("$SESSION")
log "1. yarn-session.sh -d: $SESSION, JobManager Web Interface http://$WEB after $(( (t1 - t0) / 1000000 )) ms"
python3 scripts/hadoop-compat/deploy-timeline.py "$WORK" "$SESSION" "$t0" "$t1" || fail=1

# 2. a job into the session
out=$("$FLINK_HOME/bin/flink" run -d "$WORK/compat-job.jar" 0 200 2>&1) || { echo "$out"; die "flink run failed"; }
JID=$(sed -n 's/.*Job has been submitted with JobID \([0-9a-f]*\).*/\1/p' <<<"$out")
[ -n "$JID" ] || { echo "$out"; die "flink run printed no JobID"; }
wait_for() { local what=$1 cmd=$2 n=0; until eval "$cmd" >/dev/null 2>&1; do n=$((n + 1)); [ $n -gt 600 ] && die "timed out waiting for $what"; sleep 0.2; done; }
running() { curl -sf "http://$WEB/jobs/$JID" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["state"]=="RUNNING" and all(v["status"]=="RUNNING" for v in d["vertices"]) else 1)'; }
wait_for "the job RUNNING" running
log "2. flink run -d: job $JID RUNNING"

# 3. kill -9 the TaskManager; the job restarts on a new one
TM=$(pgrep -f 'org.apache.flink.yarn.YarnTaskExecutorRunner' | head -1)
[ -n "$TM" ] || die "no real TaskManager process"
kill -9 "$TM"
restarted() { curl -sf "http://$WEB/jobs/$JID/exceptions" | grep -q 'exceptionHistory' && curl -sf "http://$WEB/jobs/$JID/exceptions" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["exceptionHistory"]["entries"] else 1)' && running && [ "$(pgrep -f org.apache.flink.yarn.YarnTaskExecutorRunner | grep -vx "$TM" | wc -l)" -ge 1 ]; }
wait_for "the job to restart after the TaskManager's kill -9" restarted
log "3. kill -9 TaskManager $TM: the job restarted and is RUNNING on a new TaskManager"

# 4. kill -9 the JobManager (the AM); attempt 2 starts
AM=$(pgrep -f 'org.apache.flink.yarn.entrypoint.YarnSessionClusterEntrypoint' | head -1)
[ -n "$AM" ] || die "no real JobManager process"
kill -9 "$AM"
attempt2() { "$BIN/yarn" applicationattempt -list "$SESSION" | grep -q "appattempt_${SESSION#application_}_000002"; }
wait_for "attempt 2 of the session" attempt2
am2() { pgrep -f 'org.apache.flink.yarn.entrypoint.YarnSessionClusterEntrypoint' | grep -vx "$AM"; }
wait_for "the JobManager of attempt 2" am2
log "4. kill -9 JobManager $AM: attempt 2 started ($(am2))"
"$BIN/yarn" application -kill "$SESSION" >/dev/null

# 5. application mode
out=$("$FLINK_HOME/bin/flink" run -t yarn-application "$WORK/compat-job.jar" 2000 0 2>&1) || { echo "$out"; die "flink run -t yarn-application failed"; }
APP=$(grep -o 'application_[0-9]*_[0-9]*' <<<"$out" | tail -1)
[ -n "$APP" ] || { echo "$out"; die "flink run-application printed no application id"; }
APPS+=("$APP")
finished() { "$BIN/yarn" application -status "$APP" | grep -q 'Final-State : SUCCEEDED'; }
wait_for "$APP to finish SUCCEEDED" finished
sums=$(cat "$WORK"/nm-*/logs/"$APP"/container_*/taskmanager.out 2>/dev/null | grep -c '^sum ' || true)
[ "$sums" = 2000 ] || { log "expected 2000 sum lines in taskmanager.out, found $sums"; fail=1; }
log "5. flink run -t yarn-application: $APP FINISHED SUCCEEDED, $sums results"
exit $fail
