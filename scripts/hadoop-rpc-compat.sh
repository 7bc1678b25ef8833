#!/usr/bin/env bash
# make compat: the real Hadoop 3.5.0 YARN clients (YarnClient, AMRMClient, NMClient, run with the
# machine's Java) against a yarn-sim cluster over Hadoop RPC. scripts/hadoop-compat/YarnProbe.java
# is compiled with javac against the shaded client jars (scripts/hadoop-client.sh); its client
# mode asks the RM for metrics, nodes, queues and an unknown application over SIMPLE, then
# submits itself as an ApplicationMaster; the AM authenticates with the AMRM token the RM put
# in its container's credentials file, asks for containers, starts a shell in each through the
# NodeManagers with the NM tokens, and unregisters. Every step's output is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
command -v java >/dev/null && command -v javac >/dev/null || { echo "compat: java and javac are required (apt-get install openjdk-17-jdk-headless)"; exit 1; }
CP=$(./scripts/hadoop-client.sh)
PROBE=target/hadoop-compat
mkdir -p "$PROBE"
javac -cp "$CP" -d "$PROBE" scripts/hadoop-compat/YarnProbe.java
WORK=$(mktemp -d /tmp/yarn-sim-hrpc-compat.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { "$BIN/yarn-sim" stop --work-dir "$WORK" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$BIN/yarn-sim" start --nodes 2 --detach --work-dir "$WORK" --rm-port "$PORT" >/dev/null
CONF="$WORK/conf"
PROBE_CP="$CONF:$CP:$PWD/$PROBE"
JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
export JAVA_HOME
containers=3
t0=$(date +%s%N)
out=$(java -cp "$PROBE_CP" YarnProbe client "$PROBE_CP" "$containers" 2>"$WORK/probe.err") || { cat "$WORK/probe.err"; echo "compat: the YarnProbe client failed"; exit 1; }
t1=$(date +%s%N)
echo "$out"
fail=0
expect() { grep -qE "$1" <<<"$out" || { echo "compat: expected a line matching: $1"; fail=1; }; }
expect "^probe: nodemanagers 2 active 2$"
expect "^probe: node 127\.0\.0\.1:[0-9]+ RUNNING capability"
expect "^probe: queue default RUNNING$"
expect "^probe: unknown application org\.apache\.hadoop\.yarn\.exceptions\.ApplicationNotFoundException: Application with id 'application_1_9999' doesn't exist in RM\."
expect "^probe: new application application_[0-9]+_0001 max"
expect "^probe: final FINISHED SUCCEEDED diagnostics 3 of 3 containers completed, 0 failed"
expect "^probe: listed true$"
am_out=$(cat "$WORK"/nm-*/logs/application_*/container_*_01_000001/am.out 2>/dev/null || true)
echo "$am_out"
grep -q "^probe: registered$" <<<"$am_out" || { echo "compat: the AM did not register"; fail=1; }
[ "$(grep -c '^probe: completed .* exit 0$' <<<"$am_out")" = "$containers" ] || { echo "compat: not every container completed with exit 0"; fail=1; }
hello=$(cat "$WORK"/nm-*/logs/application_*/container_*/stdout 2>/dev/null | grep -c '^hello from container_' || true)
[ "$hello" = "$containers" ] || { echo "compat: expected $containers container outputs, found $hello"; fail=1; }
echo "compat: the Hadoop 3.5.0 YARN clients' run took $(( (t1 - t0) / 1000000 )) ms"
if [ $fail != 0 ]; then
  echo "--- probe stderr"; tail -50 "$WORK/probe.err"
  echo "--- AM stderr"; tail -50 "$WORK"/nm-*/logs/application_*/container_*_01_000001/am.err 2>/dev/null || true
  echo "--- RM log"; tail -30 "$WORK/logs/resourcemanager.log" || true
fi
exit $fail
