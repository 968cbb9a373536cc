#!/usr/bin/env bash
# Compares this checkout's costs with those of another commit, in one run:
# each round runs this checkout's benchmark binary, then the other's, so that
# load from elsewhere lands on both alike. Each binary's overheads are over
# its own bare transport, in the same round.
#
#   ./compare.sh 2acc7fd                          # 6 rounds, stub base, success and outage, the ceilings' variants
#   COUNT=8 BENCH='base=stub' ./compare.sh HEAD~5  # every stub path
#
# Raw results go to compare.txt; the table of medians, and allocations
# over bare, to compare-table.txt.
set -euo pipefail
cd "$(dirname "$0")"

old=${1:?usage: compare.sh COMMIT}
count=${COUNT:-6}
bench=${BENCH:-base=stub/path=(success|outage)/run=(serial|parallel)/impl=(bare|lean|idctrace|idctrace[+]retry|idctrace[+]everyentry|otelhttp-noop)\$}
benchtime=${BENCHTIME:-1s}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

mkdir "$dir/old"
git -C .. archive "$old" | tar -x -C "$dir/old"
(cd "$dir/old/benchmarks" && go test -c -o "$dir/old.test" .)
go test -c -o "$dir/new.test" .

: > compare.txt
for round in $(seq "$count"); do
	echo "round $round of $count" >&2
	for build in new old; do
		{ "$dir/$build.test" -test.run '^$' -test.bench "BenchmarkRoundTrip/$bench" -test.benchmem -test.count 1 -test.benchtime "$benchtime" || true; } |
			sed -n "s|^BenchmarkRoundTrip/\([^ ]*\)-[0-9]*[[:space:]]|$build \1 |p" >> compare.txt
	done
done

# Medians per build, path and run, as overheads over bare; "share" is the
# overhead over otelhttp no-op's, "x lean" the overhead over lean's.
{
	printf "%-5s %-14s %-14s %-24s %12s %10s %8s %8s %7s\n" build path run impl ns/op overhead share "x lean" allocs
	awk '
	{
		split($2, part, "/")
		key = $1 " " part[2] " " part[3] " " part[4]
		ns[key] = ns[key] " " $4
		allocs[key] = $8
	}
	function median(list,    n, v, i, j, t) {
		n = split(list, v, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	END {
		for (key in ns) med[key] = median(ns[key])
		for (key in med) {
			split(key, k, " ")
			run = k[1] " " k[2] " " k[3]
			over = med[key] - med[run " impl=bare"]
			noop = med[run " impl=otelhttp-noop"] - med[run " impl=bare"]
			lean = med[run " impl=lean"] - med[run " impl=bare"]
			printf "%-5s %-14s %-14s %-24s %12.0f %10.0f %8.2f %8.2f %7d\n", k[1], k[2], k[3], k[4], med[key], over,
				noop ? over / noop : 0, lean ? over / lean : 0, allocs[key] - allocs[run " impl=bare"]
		}
	}' compare.txt | sort -k2,2 -k3,3 -k4,4 -k1,1
} | tee compare-table.txt
