#!/usr/bin/env bash
# The keyed-shuffle job `make bench` and `make profile` run (Flink's keyBy/sum of N Longs to a
# discarding sink, parallelism 2), as a program file on stdout. usage: shuffle-job.sh N
cat <<TOML
[[job]]
name = "Shuffle"
parallelism = 2
[[job.step]]
source = { type = "sequence", from = 1, to = $1 }
[[job.step]]
key-by = 0
[[job.step]]
sum = 0
[[job.step]]
sink = "discard"
TOML
