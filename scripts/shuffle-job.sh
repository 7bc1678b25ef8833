#!/usr/bin/env bash
# The keyed-shuffle job `make bench` and `make profile` run (Flink's keyBy/sum of N Longs to a
# discarding sink, parallelism P, default 2), as a program file on stdout; with P = 1 it is the
# state-memory job of scripts/bench-flink-real.sh. usage: shuffle-job.sh N [P [NAME]]
cat <<TOML
[[job]]
name = "${3:-Shuffle}"
parallelism = ${2:-2}
[[job.step]]
source = { type = "sequence", from = 1, to = $1 }
[[job.step]]
key-by = 0
[[job.step]]
sum = 0
[[job.step]]
sink = "discard"
TOML
