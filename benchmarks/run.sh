#!/usr/bin/env bash
# Runs the peer benchmarks and prints benchstat tables, one column per
# implementation, each compared with the bare transport of the same run.
#
#   ./run.sh                   # 8 runs of every benchmark, a few minutes
#   COUNT=3 ./run.sh           # quicker, noisier
#   BENCH='base=stub' ./run.sh # a subset
#
# Raw results go to results.txt; tables to results-table.txt.
set -euo pipefail
cd "$(dirname "$0")"

count=${COUNT:-8}
bench=${BENCH:-.}
go test -run '^$' -bench "BenchmarkRoundTrip/$bench" -benchmem -count "$count" -timeout 60m . | tee results.txt
# benchstat is a tool dependency of this module (go.mod's tool line).
go tool benchstat -col /impl -row /base,/path,/run results.txt | tee results-table.txt
