#!/usr/bin/env bash
# Hadoop 3.5.0's shaded client jars (hadoop-client-api, hadoop-client-runtime, slf4j-api), taken
# from PyPI's pyspark 4.3.0 source archive (deps/jars/, ~456 MB, downloaded once into
# target/hadoop-client/), for the real-Java compat runs (make compat): the real YarnClient,
# AMRMClient and NMClient, and the real Flink's YARN client and ApplicationMaster.
# Prints the jars as a classpath (`:`-joined absolute paths).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=target/hadoop-client
JARS="hadoop-client-api-3.5.0.jar hadoop-client-runtime-3.5.0.jar slf4j-api-2.0.17.jar"
missing=0
for j in $JARS; do [ -f "$DIR/jars/$j" ] || missing=1; done
if [ $missing = 1 ]; then
  mkdir -p "$DIR/dl" "$DIR/jars"
  if [ ! -f "$DIR/dl/pyspark-4.3.0.tar.gz" ]; then
    # --no-binary: the source archive is the one that carries deps/jars/.
    python3 -m pip download --no-deps --no-binary :all: -q -d "$DIR/dl" pyspark==4.3.0 >&2
  fi
  members=""
  for j in $JARS; do members="$members pyspark-4.3.0/deps/jars/$j"; done
  # shellcheck disable=SC2086
  tar xzf "$DIR/dl/pyspark-4.3.0.tar.gz" -C "$DIR/jars" --strip-components=3 $members
  rm -f "$DIR/dl/pyspark-4.3.0.tar.gz"
fi
cp=""
for j in $JARS; do cp="$cp${cp:+:}$PWD/$DIR/jars/$j"; done
echo "$cp"
