#!/usr/bin/env bash
# Runs the peer benchmarks and prints benchstat tables, one column per
# implementation, each compared with the bare transport of the same run.
#
#   ./run.sh                   # 8 rounds of every benchmark, about 10 minutes
#   COUNT=3 ./run.sh           # quicker, noisier
#   BENCH='base=stub' ./run.sh # a subset
#
# Each round runs every selected benchmark once, so a burst of load from
# elsewhere on a shared machine lands on all implementations alike rather
# than on the one whose counts it happened to hit.
#
# Raw results go to results.txt; tables to results-table.txt.
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-8}
bench=${BENCH:-.}
bin=$(mktemp -d)/benchmarks.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" .
: > results.txt
for round in $(seq "$count"); do
	echo "round $round of $count" >&2
	"$bin" -test.run '^$' -test.bench "BenchmarkRoundTrip/$bench" -test.benchmem -test.count 1 -test.timeout 60m >> results.txt
done
# benchstat is a tool dependency of this module (go.mod's tool line).
go tool benchstat -col /impl -row /base,/path,/run results.txt | tee results-table.txt
