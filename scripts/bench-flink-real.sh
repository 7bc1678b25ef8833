#!/usr/bin/env bash
# Side by side with real Apache Flink 2.3 on this machine (rows of `make bench`; scripts/bench.sh
# runs this, and it also runs alone):
#  - the keyed shuffle: Flink 2.3 standalone (its default config but 2 TaskManagers of one slot,
#    all on 127.0.0.1, own ports and conf dir) running a DataStream job compiled here with javac
#    (scripts/flink-bench/FlinkBench.java: NumberSequenceSource of N Longs, keyBy(x -> x),
#    reduce (sum), discarding sink, parallelism 2): one warm-up run, then the BEST of 5; ours
#    (scripts/shuffle-job.sh N, `flink run -p 2` on a yarn-session, -tm 1024m -s 1): the MEDIAN
#    of 5. Both durations are the job's "duration" from the REST API's /jobs/<id> (created to
#    finished, so scheduling and deployment on warm TaskManagers are inside it on both sides);
#    records/s = N / duration. Also the CPU time per record (user + system of Flink's JobManager
#    + TaskManagers, of our AM + TaskManagers; median of the timed runs): the shared cores'
#    other load disturbs it much less than wall time.
#  - memory under keyed state: KEYS unique keys of (i64, i64) sum state at parallelism 1. Ours:
#    the TaskManager's peak RSS (VmHWM) in a `-tm 1728m` session minus the same process's RSS
#    when idle (after a 1-record job started it), per key, and whether the NodeManager killed it
#    (-104, physical memory; then the run is repeated at -tm 4096m for the figure). Flink's
#    hashmap backend: the TaskManager JVM's heap used after a forced full GC (jcmd GC.run;
#    GC.heap_info) while the job holds all keys (its source emits 1..KEYS and then idles instead
#    of finishing), minus the same after a GC before the job, per key; and its peak RSS growth
#    per key, the measure ours gets.
# Prints one line per row: "row<TAB>measure<TAB>result<TAB>target<TAB>baseline"; progress on
# stderr. Without java/javac (or the distribution) the Flink side is skipped with a message.
# Env: BENCH_SHUFFLE_RECORDS (N, 2000000), BENCH_STATE_KEYS (KEYS, 20000000), BENCH_FLINK_RUNS
# (5), BENCH_FLINK_STATE_TM (the Flink state run's TaskManager process size, 4096m: 20 M keys do
# not fit the default 1728m's 384 MB task heap), BENCH_STATE_TM (our TaskManager, 1728m),
# BENCH_STATE_RETRY_TM (ours after a -104 kill, 4096m), BENCH_FLINK=0 (ours only).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
N=${BENCH_SHUFFLE_RECORDS:-2000000}
KEYS=${BENCH_STATE_KEYS:-20000000}
RUNS=${BENCH_FLINK_RUNS:-5}
STATE_TM=${BENCH_FLINK_STATE_TM:-4096m}
OUR_TM=${BENCH_STATE_TM:-1728m}
FLINK_VER=2.3.0
WORK=$(mktemp -d /tmp/yarn-sim-bench-flink.XXXXXX)
log() { echo "bench-flink-real: $*" >&2; }
row() { printf 'row\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"; }
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ms() { date +%s%3N; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
kib_field() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || true; }
mib() { python3 -c "print(f'{$1 / 1024:.1f}')"; }
# CPU time (user + system, ms) the given processes used so far: a figure for the 2 shared cores
# that other work on the machine disturbs much less than wall time. Fields 14 and 15 of
# /proc/<pid>/stat, counted after the command name's closing parenthesis.
HZ=$(getconf CLK_TCK)
cpu_ms() {
  local t=0 v p
  for p in "$@"; do v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}'); t=$((t + ${v:-0})); done
  echo $((t * 1000 / HZ))
}
# Our processes running the executables named by $1 (an ERE alternation): containers, so their
# directory is under $WORK (cheap enough to sample every 0.2 s without taking CPU from the job).
procs_of() {
  local p
  for p in $(pgrep -f "/($1)" || true); do
    basename "$(readlink "/proc/$p/exe" 2>/dev/null)" | grep -qxE "$1" && readlink "/proc/$p/cwd" 2>/dev/null | grep -qF "$WORK" && echo "$p"
  done; true
}
tm_pids() { procs_of taskexec; }
# The counterpart of a Flink standalone cluster's JobManager + TaskManagers (not YARN's daemons).
cluster_pids() { procs_of 'taskexec|flink-am'; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }
us_per_record() { python3 -c "print(f'{$1 * 1000 / $N:.2f}')"; }
# Every wait gives up after a while (a hung row must not hang make bench).
deadline() { DEADLINE=$(($(ms) + $1 * 1000)); }
check() { [ "$(ms)" -lt "$DEADLINE" ] || { log "timed out waiting for $1"; return 1; }; }

FCONF="$WORK/flink-conf"
FLINK_UP=""
# Processes this script started that outlive their scripts: every one names $WORK in its command
# line (Flink's JVMs get --configDir $WORK/..., yarn-sim's daemons --work-dir $WORK) or runs in a
# directory under it (containers).
ours() {
  local d p
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = $$ ] && continue
    if { tr '\0' ' ' < "/proc/$p/cmdline" | grep -qF "$WORK" || readlink "/proc/$p/cwd" | grep -qF "$WORK"; } 2>/dev/null; then
      echo "$p"
    fi
  done
}
stop_flink() {
  [ -n "$FLINK_UP" ] || return 0
  FLINK_UP=""
  FLINK_CONF_DIR="$FCONF" "$FLINK_HOME/bin/stop-cluster.sh" >/dev/null 2>&1 || true
  deadline 15
  while [ -n "$(cat "$WORK"/flink-pid/*.pid 2>/dev/null | while read -r p; do kill -0 "$p" 2>/dev/null && echo "$p"; done)" ]; do
    check "the Flink cluster to stop" || break
    sleep 0.2
  done
  for p in $(cat "$WORK"/flink-pid/*.pid 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  rm -f "$WORK"/flink-pid/*.pid
}
cleanup() {
  stop_flink
  [ -n "${POLLER:-}" ] && kill "$POLLER" 2>/dev/null
  "$BIN/yarn-sim" stop --work-dir "$WORK/yarn" >/dev/null 2>&1 || true
  for p in $(ours); do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- real Flink: set-up
FLINK_OK=""
SKIP=""
# A standalone cluster of our own: no FLINK_* settings from the caller's environment.
unset FLINK_CONF_DIR FLINK_PID_DIR FLINK_LOG_DIR FLINK_ENV_JAVA_OPTS FLINK_HOME
if [ "${BENCH_FLINK:-1}" = 0 ]; then
  SKIP="BENCH_FLINK=0"
elif ! command -v java >/dev/null || ! command -v javac >/dev/null || ! command -v jar >/dev/null; then
  SKIP="java, javac or jar missing: apt-get install openjdk-17-jdk-headless"
elif ! FLINK_HOME=$(./scripts/flink-dist.sh "$FLINK_VER"); then
  SKIP="the distribution could not be assembled from PyPI"
else
  mkdir -p "$WORK/classes"
  javac -nowarn -d "$WORK/classes" -cp "$FLINK_HOME/lib/*" scripts/flink-bench/FlinkBench.java 2>&1 | grep -v '^Note:' >&2 || true
  jar cf "$WORK/flinkbench.jar" -C "$WORK/classes" .
  FLINK_OK=1
fi
[ -z "$SKIP" ] || log "the Flink $FLINK_VER side is skipped: $SKIP"

# Starts a standalone cluster: Flink's default config.yaml (the distribution's) with our own
# ports, dirs and 127.0.0.1, $1 TaskManagers of one slot, each of process size $2; $3 extra lines.
start_flink() {
  mkdir -p "$FCONF" "$WORK/flink-log" "$WORK/flink-pid" "$WORK/flink-tmp"
  cp "$FLINK_HOME"/conf/log4j*.properties "$FCONF/"
  FREST=$(free); FRPC=$(free)
  local opts
  opts=$(sed -n 's/^ *all: //p' "$FLINK_HOME/conf/config.yaml")
  cat > "$FCONF/config.yaml" <<YAML
env.java.opts.all: $opts
env.pid.dir: $WORK/flink-pid
env.log.dir: $WORK/flink-log
io.tmp.dirs: $WORK/flink-tmp
web.tmpdir: $WORK/flink-tmp
jobmanager.bind-host: 127.0.0.1
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: $FRPC
jobmanager.memory.process.size: 1600m
jobmanager.execution.failover-strategy: region
taskmanager.bind-host: 127.0.0.1
taskmanager.host: 127.0.0.1
taskmanager.numberOfTaskSlots: 1
taskmanager.memory.process.size: $2
parallelism.default: 1
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: $FREST
$3
YAML
  printf '127.0.0.1\n%.0s' $(seq "$1") > "$FCONF/workers"
  echo "127.0.0.1:$FREST" > "$FCONF/masters"
  FLINK_UP=1
  FLINK_CONF_DIR="$FCONF" "$FLINK_HOME/bin/start-cluster.sh" >&2
  FWEB="http://127.0.0.1:$FREST"
  deadline 120
  until [ "$(curl -s "$FWEB/taskmanagers" | json 'len(d["taskmanagers"])' 2>/dev/null || echo 0)" -ge "$1" ]; do
    check "$1 Flink TaskManagers to register" || return 1
    sleep 0.5
  done
  JAR=$(curl -s -X POST -F "jarfile=@$WORK/flinkbench.jar" "$FWEB/jars/upload" | json 'd["filename"].split("/")[-1]') || JAR=""
  [ -n "$JAR" ] || { log "the jar upload to Flink's REST API failed"; return 1; }
}
# Runs FlinkBench with the given args at parallelism $1; prints the job id.
flink_submit() {
  local p=$1; shift
  local args
  args=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@")
  curl -s -X POST -H 'Content-Type: application/json' \
    -d "{\"entryClass\":\"FlinkBench\",\"programArgsList\":$args,\"parallelism\":$p}" "$FWEB/jars/$JAR/run" \
    | json 'd.get("jobid") or sys.exit("run refused: %s" % d)'
}
# Waits until the job ends; prints "STATE DURATION_MS". Polls the small /status resource with
# curl alone (no interpreter per poll: the two cores are the job's); the duration is the
# JobManager's own, so the poll's latency is not in it.
flink_wait() {
  deadline 600
  until curl -s "$FWEB/jobs/$1/status" | grep -qE '"status":"(FINISHED|FAILED|CANCELED)"'; do
    check "Flink job $1" || { echo "TIMEOUT 0"; return; }
    sleep 0.1
  done
  curl -s "$FWEB/jobs/$1" | json 'd["state"], d["duration"]'
}
heap_used_kib() { # a full GC first, so only live objects count
  jcmd "$1" GC.run >/dev/null
  jcmd "$1" GC.heap_info | sed -n 's/.* used \([0-9]*\)K.*/\1/p' | head -1
}

FBEST=""
if [ -n "$FLINK_OK" ]; then
  log "Flink $FLINK_VER standalone: 2 TaskManagers x 1 slot, keyed shuffle of $N Longs, warm-up + $RUNS runs"
  if start_flink 2 1728m ""; then
    fl=(); fc=()
    fpids=$(cat "$WORK"/flink-pid/*.pid)
    for i in $(seq 0 "$RUNS"); do
      c0=$(cpu_ms $fpids)
      jid=$(flink_submit 2 shuffle "$N") || { log "Flink refused the job"; fl=(); break; }
      read -r st dur < <(flink_wait "$jid")
      c1=$(cpu_ms $fpids)
      [ "$st" = FINISHED ] || { log "Flink job $jid ended $st"; fl=(); break; }
      log "  Flink run $i: $dur ms, CPU $((c1 - c0)) ms$([ "$i" = 0 ] && echo ' (warm-up)')"
      [ "$i" = 0 ] || { fl+=("$dur"); fc+=($((c1 - c0))); }
    done
    if [ ${#fl[@]} -gt 0 ]; then
      best=$(printf '%s\n' "${fl[@]}" | sort -n | head -1)
      FBEST=$((N * 1000 / (best > 0 ? best : 1)))
      FCPU=$(us_per_record "$(median "${fc[@]}")")
      row "Flink $FLINK_VER standalone: keyed shuffle, 2 TaskManagers (best of $RUNS after a warm-up)" \
        "$FBEST records/s ($N in $best ms; runs $(IFS=/; echo "${fl[*]}") ms); CPU $FCPU us/record (median; JobManager + TaskManagers)" "the baseline of the next row" \
        "default config, 1 slot per TaskManager, JDK $(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1); duration from REST /jobs/<id>"
    else
      row "Flink $FLINK_VER standalone: keyed shuffle" "failed (logs were in $WORK/flink-log)" "-" "-"
    fi
  else
    row "Flink $FLINK_VER standalone: keyed shuffle" "skipped: the cluster did not start" "-" "-"
  fi
  stop_flink
else
  row "Flink $FLINK_VER standalone: keyed shuffle" "skipped ($SKIP)" "-" "-"
fi

# ---------------------------------------------------------------- ours: the same keyed shuffle
log "yarn-sim: keyed shuffle of $N records, flink run -p 2, $RUNS runs"
YPORT=$(free)
"$BIN/yarn-sim" start --nodes 3 --detach --work-dir "$WORK/yarn" --rm-port "$YPORT" >/dev/null
export YARN_CONF_DIR="$WORK/yarn/conf"
mkdir -p "$WORK/fc"
printf 'yarn.properties-file.location: %s\n' "$WORK/fc" > "$WORK/fc/config.yaml"
session() { # -tm size; sets WEB and APP
  FLINK_CONF_DIR="$WORK/fc" "$BIN/yarn-session" -jm 256m -tm "$1" -s 1 -d > "$WORK/session.out"
  WEB=$(sed -n 's/^JobManager Web Interface: http:\/\///p' "$WORK/session.out")
  APP=$(sed -n 's/^Submitted application //p' "$WORK/session.out")
}
ourrun() { FLINK_CONF_DIR="$WORK/fc" "$BIN/flink" run "$@" | sed -n 's/^Job has been submitted with JobID //p'; }
session 1024m
./scripts/shuffle-job.sh "$N" > "$WORK/shuffle.toml"
ol=(); oc=()
for i in $(seq "$RUNS"); do
  # shellcheck disable=SC2046 # one pid per word
  c0=$(cpu_ms $(cluster_pids))
  sid=$(ourrun -p 2 "$WORK/shuffle.toml")
  # shellcheck disable=SC2046
  c1=$(cpu_ms $(cluster_pids))
  dur=$(curl -s "http://$WEB/jobs/$sid" | json 'd["duration"]')
  log "  yarn-sim run $i: $dur ms, CPU $((c1 - c0)) ms"
  ol+=("$dur"); oc+=($((c1 - c0)))
done
med=$(median "${ol[@]}")
ORPS=$((N * 1000 / (med > 0 ? med : 1)))
OCPU=$(us_per_record "$(median "${oc[@]}")")
if [ -n "$FBEST" ]; then
  ratio=$(python3 -c "print(f'{$ORPS / $FBEST:.2f}x')")
  cratio=$(python3 -c "print(f'{$FCPU / $OCPU:.2f}x')")
  base="${ratio} Flink $FLINK_VER's best of $RUNS ($FBEST records/s, above); CPU per record: Flink's is ${cratio} ours"
else
  base="no Flink figure in this run"
fi
row "yarn-sim: the same keyed shuffle, flink run -p 2 (median of $RUNS)" \
  "$ORPS records/s ($N in $med ms; runs $(IFS=/; echo "${ol[*]}") ms); CPU $OCPU us/record (median; AM + TaskManagers)" ">= 2x Flink's best and >= 2,500,000 records/s" "$base"
echo stop | "$BIN/yarn-session" -id "$APP" >/dev/null 2>&1 || true

# ---------------------------------------------------------------- memory under keyed state
# Ours: a -tm 1728m (BENCH_STATE_TM) session; a 1-record job starts the TaskManager, whose idle
# RSS is the base. If the NodeManager kills it (-104), the same run in a -tm 4096m TaskManager
# (BENCH_STATE_RETRY_TM) still gives the bytes per key.
state_job() { ./scripts/shuffle-job.sh "$1" 1 State; } # K unique keys of sum state, parallelism 1
state_job 1 > "$WORK/one.toml"
state_job "$KEYS" > "$WORK/state.toml"
# One measurement in a session of TaskManager size $1: sets PEAK and IDLE (KiB), KILLED, ST.
our_state() {
  log "yarn-sim: $KEYS unique keys of sum state in a -tm $1 TaskManager"
  session "$1"
  ourrun -p 1 "$WORK/one.toml" >/dev/null
  sleep 1
  IDLE=$(kib_field "$(tm_pids | head -1)" VmRSS)
  # Every TaskManager's VmHWM, sampled until the end (a new one may be started for the job).
  ( while :; do for p in $(tm_pids); do echo "$p $(kib_field "$p" VmHWM)"; done; sleep 0.2; done ) > "$WORK/hwm" 2>/dev/null &
  POLLER=$!
  local kid
  kid=$(ourrun -d -p 1 "$WORK/state.toml")
  deadline 900
  while :; do
    ST=$(curl -s "http://$WEB/jobs/$kid" | json 'd["state"]' 2>/dev/null || echo "?")
    case "$ST" in FINISHED|FAILED|CANCELED) break;; esac
    check "our state job" || { ST=TIMEOUT; break; }
    sleep 0.2
  done
  sleep 0.3
  kill "$POLLER" 2>/dev/null; wait "$POLLER" 2>/dev/null || true; POLLER=""
  PEAK=$(awk '$2 > m {m = $2} END {print m + 0}' "$WORK/hwm")
  # A TaskManager container the NodeManager killed for its physical memory exits -104.
  KILLED=$(for addr in $(curl -s "http://127.0.0.1:$YPORT/ws/v1/cluster/nodes?user.name=$(id -un)" | json '" ".join(n["nodeHTTPAddress"] for n in d["nodes"]["node"])'); do
    curl -s "http://$addr/ws/v1/node/containers" | json '" ".join(c["id"] for c in ((d.get("containers") or {}).get("container") or []) if c.get("exitCode") == -104 and "'"${APP#application_}"'" in c["id"])'
  done | xargs)
  echo stop | "$BIN/yarn-session" -id "$APP" >/dev/null 2>&1 || true
  deadline 30
  while [ -n "$(tm_pids)" ]; do check "the session's TaskManagers to go" || break; sleep 0.2; done
}
per_key() { python3 -c "print(f'{($PEAK - $IDLE) * 1024 / $KEYS:.1f}')"; }
our_state "$OUR_TM"
if [ -z "$KILLED" ]; then
  OUR_MEM="$(per_key) bytes/key (peak RSS $(mib "$PEAK") MiB - idle $(mib "$IDLE") MiB; job $ST, not killed)"
else
  OUR_MEM="KILLED -104 (physical memory) at peak RSS $(mib "$PEAK") MiB, job $ST"
  RETRY_TM=${BENCH_STATE_RETRY_TM:-4096m}
  our_state "$RETRY_TM"
  if [ -z "$KILLED" ]; then
    OUR_MEM="$OUR_MEM; in -tm $RETRY_TM: $(per_key) bytes/key (peak RSS $(mib "$PEAK") MiB - idle $(mib "$IDLE") MiB; job $ST)"
  else
    OUR_MEM="$OUR_MEM; killed in -tm $RETRY_TM too (peak RSS $(mib "$PEAK") MiB)"
  fi
fi
log "  ours: $OUR_MEM"

# Flink: one TaskManager big enough for the hashmap backend's heap (no managed memory: the
# hashmap backend keeps state on the JVM heap).
FLINK_MEM="no Flink figure in this run"
if [ -n "$FLINK_OK" ]; then
  log "Flink $FLINK_VER: $KEYS keys in the hashmap backend, one TaskManager of $STATE_TM"
  if start_flink 1 "$STATE_TM" "taskmanager.memory.managed.fraction: 0
state.backend.type: hashmap"; then
    tpid=$(cat "$WORK"/flink-pid/*taskexecutor*.pid 2>/dev/null | head -1)
    h0=$(heap_used_kib "$tpid" || true)
    r0=$(kib_field "$tpid" VmRSS)
    marker="$WORK/all-keys-in-state"
    jid=$(flink_submit 1 state "$KEYS" "$marker") || jid=""
    deadline 900
    fst=RUNNING
    [ -n "$jid" ] || fst="refused by the REST API"
    until [ -f "$marker" ] || [ -z "$jid" ]; do
      fst=$(curl -s "$FWEB/jobs/$jid" | json 'd["state"]' 2>/dev/null || echo "?")
      case "$fst" in FAILED|CANCELED|FINISHED) break;; esac
      check "Flink's state job" || { fst=TIMEOUT; break; }
      sleep 0.2
    done
    [ -f "$marker" ] && r1=$(kib_field "$tpid" VmHWM) && h1=$(heap_used_kib "$tpid" || true)
    if [ -f "$marker" ] && [ -n "$h0" ] && [ -n "${h1:-}" ]; then
      fbpk=$(python3 -c "print(f'{($h1 - $h0) * 1024 / $KEYS:.1f}')")
      # The process's growth too, the measure ours gets (the JVM's heap headroom and GC included).
      rbpk=$(python3 -c "print(f'{($r1 - $r0) * 1024 / $KEYS:.1f}')")
      FLINK_MEM="Flink $FLINK_VER hashmap backend: $fbpk bytes/key (heap after full GC $(mib "$h1") MiB - $(mib "$h0") MiB before the job; TaskManager $STATE_TM, whose peak RSS grew $rbpk bytes/key: $(mib "$r0") to $(mib "$r1") MiB)"
    elif [ -f "$marker" ]; then
      FLINK_MEM="Flink $FLINK_VER hashmap backend: jcmd could not read the TaskManager's heap (pid $tpid)"
    else
      FLINK_MEM="Flink $FLINK_VER hashmap backend: job $fst before all keys were in state (TaskManager $STATE_TM; raise BENCH_FLINK_STATE_TM)"
    fi
    log "  $FLINK_MEM"
    if [ -n "$jid" ]; then curl -s -o /dev/null -X PATCH "$FWEB/jobs/$jid?mode=cancel" || true; fi
  else
    FLINK_MEM="Flink $FLINK_VER: the cluster did not start"
  fi
  stop_flink
fi
row "memory: $KEYS unique keys of (i64, i64) sum state, -tm $OUR_TM TaskManager" "$OUR_MEM" \
  "fits -tm 1728m with room to spare" "$FLINK_MEM"
