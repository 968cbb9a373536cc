#!/usr/bin/env bash
# Measures `idctrace report` and `idctrace ticket` on a generated log of
# about 1 GB, half of its lines not idctrace's, against the jq line of
# issue 28, for this checkout and for an earlier commit: seconds, MB/s and
# peak memory (max RSS). Not part of `go test ./...` or CI.
#
#   ./logs.sh                  # 1 GB, 3 rounds, before = 2883433 (where issue 28's work started)
#   SIZE_MB=200 ROUNDS=1 ./logs.sh   # quicker
#   BEFORE=main ./logs.sh      # another commit to compare with
#
# Throughput is of the plain log's bytes, for the gzipped log too (gzip -1).
# Needs python3, jq and GNU time (/usr/bin/time). The log and the
# binaries go to a temporary directory under /tmp, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb=${SIZE_MB:-1024}
before=${BEFORE:-2883433}
tmp=$(mktemp -d /tmp/idctrace-logs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "building this checkout and $before" >&2
go build -o "$tmp/after" ./cmd/idctrace
mkdir "$tmp/src"
git archive "$before" | tar -x -C "$tmp/src"
(cd "$tmp/src" && go build -o "$tmp/before" ./cmd/idctrace)

echo "generating a log of $size_mb MB" >&2
python3 - "$tmp/service.log" "$size_mb" <<'EOF'
import random, sys, uuid

path, size = sys.argv[1], int(sys.argv[2]) << 20
rnd = random.Random(28)
t = 1772373600.0  # 2026-03-01T14:00:00Z
routes = [
    ("GET", "/recordings/{id}", "recordings/rec_%d", 404, "Resource not found",
     "Check the recording ID: it does not exist in this account, or a project-scoped key cannot see it."),
    ("GET", "/recordings", "recordings?page=%d", 429, "Rate limit exceeded",
     "The key's rate limit is used up: wait retry_after seconds, or pace calls with WithLimiter."),
    ("POST", "/recordings", "recordings?x=%d", 422, "Validation failed",
     "The upload was rejected: see errors for the fields to fix."),
    ("GET", "/projects/{id}", "projects/%d", 503, "Service unavailable",
     "IdentityCall is unavailable for now: retry with backoff (WithRetry)."),
    ("PATCH", "/operators/{id}", "operators/%d", 401, "Invalid or expired API key",
     "Check IDENTITYCALL_API_KEY: the key is missing, revoked or expired."),
]
out = open(path, "w", buffering=1 << 20)
written = lines = 0
needle_at = size // 2
needle_done = False
while written < size:
    t += 0.0005
    if lines % 2 == 0:  # a line of the service's own
        line = ('{"level":"info","ts":%.6f,"logger":"http","caller":"server/handler.go:142","msg":"handled request",'
                '"method":"GET","path":"/orders/%d","status":200,"duration_ms":%d,"request_id":"%s","user_agent":"Mozilla/5.0"}\n'
                % (t, rnd.randrange(10**6), rnd.randrange(400), uuid.UUID(int=rnd.getrandbits(128), version=4)))
    elif lines % 2001 == 1:  # a storm summary
        m, route, _, status, _, _ = routes[rnd.randrange(len(routes))]
        line = ('{"level":"error","ts":%.6f,"logger":"billing","msg":"identitycall request failures summarized","method":"%s",'
                '"route":"%s","status":%d,"suppressed":%d,"first_request_id":"%s","last_request_id":"%s","first_at":%.6f,"last_at":%.6f}\n'
                % (t, m, route, status, rnd.randrange(1, 5000), uuid.UUID(int=rnd.getrandbits(128), version=4),
                   uuid.UUID(int=rnd.getrandbits(128), version=4), t - 1, t - 0.01))
    else:
        rid = uuid.UUID(int=rnd.getrandbits(128), version=4)
        if not needle_done and written >= needle_at:
            rid, needle_done = "bench-needle-0001", True
        attempt = 1 + (lines % 7 == 0)
        if lines % 5 == 0:  # a transport error
            line = ('{"level":"error","ts":%.6f,"logger":"billing","caller":"billing/client.go:88","msg":"identitycall request failed",'
                    '"request_id":"%s","method":"GET","url":"https://api.identitycall.ai/api/v1/public/recordings/rec_%d","route":"/recordings/{id}",'
                    '"duration":%.6f,"started_at":%.6f,"attempt":%d,"error":"Get \\"https://api.identitycall.ai/api/v1/public/recordings/rec_%d\\": dial tcp 10.0.0.7:443: connect: connection refused",'
                    '"error_type":"connection_refused","hint":"Check the base URL and port, and any proxy: nothing accepted the connection."}\n'
                    % (t, rid, lines, rnd.random() / 100, t - 0.01, attempt, lines))
        else:
            m, route, tail, status, msg, hint = routes[rnd.randrange(len(routes))]
            line = ('{"level":"warn","ts":%.6f,"logger":"billing","caller":"billing/client.go:88","msg":"identitycall request failed",'
                    '"request_id":"%s","method":"%s","url":"https://api.identitycall.ai/api/v1/public/%s","route":"%s","status":%d,'
                    '"duration":%.6f,"started_at":%.6f,"attempt":%d,"error":"%s","body":"{\\"error\\":\\"%s\\"}","hint":"%s"}\n'
                    % (t, rid, m, tail % rnd.randrange(10**5), route, status, rnd.random() / 10, t - 0.1, attempt, msg, msg, hint))
    out.write(line)
    written += len(line)
    lines += 1
out.close()
EOF
log=$tmp/service.log
bytes=$(stat -c %s "$log")
echo "$(wc -l < "$log") lines, $bytes bytes" >&2

# measure NAME CMD...: one run; its wall seconds, max RSS (KiB) and CPU
# seconds (user and system, of every process) go to the file of NAME in
# $tmp/runs.
mkdir "$tmp/runs"
measure() {
	local name=$1
	shift
	/usr/bin/time -f '%e %M %U %S' -o "$tmp/time" "$@" > "$tmp/out" 2> "$tmp/err" || true
	awk '{print $1, $2, $3 + $4}' "$tmp/time" >> "$tmp/runs/$name"
	echo "$name: $(cat "$tmp/time")" >&2
}

jqline='jq -c '\''select(.msg=="identitycall request failed" or .msg=="identitycall request failures summarized") | [.method,.route,(.status // .error_type)]'\'' "$1" | sort | uniq -c'
gzip -1 -c "$log" > "$log.gz"

# Every command once a round, so that a burst of load from elsewhere on a
# shared machine lands on all of them alike.
names=()
for round in $(seq "${ROUNDS:-3}"); do
	echo "round $round" >&2
	for build in before after; do
		measure "report, $build" "$tmp/$build" report -log "$log"
		measure "report -json, $build" "$tmp/$build" report -json -log "$log"
		measure "ticket, $build" "$tmp/$build" ticket -log "$log" bench-needle-0001
		measure "report of the log gzipped, $build" "$tmp/$build" report -log "$log.gz"
	done
	measure "the jq line" bash -c "$jqline" _ "$log"
done
echo "after's report:" >&2
"$tmp/after" report -log "$log" >&2

# Medians over the rounds; on a shared machine the wall time varies with
# the load from elsewhere much more than the CPU time does.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| command | median wall time | MB/s (wall) | median CPU time | MB/s (CPU) | max RSS (largest) |"
echo "| --- | --- | --- | --- | --- | --- |"
for name in "report, before" "report, after" "report -json, before" "report -json, after" "ticket, before" "ticket, after" \
	"report of the log gzipped, before" "report of the log gzipped, after" "the jq line"; do
	secs=$(cut -d' ' -f1 "$tmp/runs/$name" | median)
	cpu=$(cut -d' ' -f3 "$tmp/runs/$name" | median)
	rss=$(cut -d' ' -f2 "$tmp/runs/$name" | sort -n | tail -1)
	printf '| %s | %.1f s | %.0f | %.1f s | %.0f | %.1f MiB |\n' "${name/before/before ($before)}" "$secs" \
		"$(echo "$bytes / 1000000 / $secs" | bc -l)" "$cpu" "$(echo "$bytes / 1000000 / $cpu" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
done

# Hostile logs, for peak memory: a million entries of one request ID (a
# service that sends a constant ID), of which before reads only the first
# 40,000 (it is quadratic in them); and 500 lines of about 1 MiB, each a
# kind of failure of its own with long texts, all of one ID.
rm -f "$log" "$log.gz"
python3 - "$tmp" <<'EOF2'
import sys
tmp = sys.argv[1]
with open(tmp + "/oneid.log", "w", buffering=1 << 20) as out:
    for i in range(1000000):
        ts = 1772373600 + i * 0.01
        out.write('{"level":"error","ts":%.6f,"msg":"identitycall request failed","request_id":"svc-42","method":"GET",'
                  '"url":"https://api.identitycall.ai/api/v1/public/recordings?page=1","route":"/recordings","status":503,'
                  '"duration":0.0021,"started_at":%.6f,"attempt":%d,"error":"Service unavailable",'
                  '"body":"{\\"error\\":\\"Service unavailable\\"}","retry_in":0.002}\n' % (ts, ts - 0.0021, 1 + i % 3))
big = "x" * (240 << 10)
with open(tmp + "/long.log", "w") as out:
    for i in range(500):
        out.write('{"level":"error","ts":%d,"msg":"identitycall request failed","request_id":"svc-42","method":"GET",'
                  '"url":"/%d/%s","error_type":"%d%s","hint":"%d%s","error":"%d%s","attempt":1}\n'
                  % (1772373600 + i, i, big, i, big, i, big, i, big))
EOF2
head -n 40000 "$tmp/oneid.log" > "$tmp/oneid-40k.log"
echo
echo "| hostile log | command | time | max RSS |"
echo "| --- | --- | --- | --- |"
hostile() {
	local what=$1 build=$2
	shift 2
	/usr/bin/time -f '%e %M' -o "$tmp/time" "$tmp/$build" "$@" > /dev/null 2>&1 || true
	read -r secs rss < "$tmp/time"
	printf '| %s | %s, %s | %.1f s | %.1f MiB |\n' "$what" "$1" "${build/before/before ($before)}" "$secs" "$(echo "$rss / 1024" | bc -l)"
}
hostile "40,000 entries of one ID" before ticket -log "$tmp/oneid-40k.log" svc-42
hostile "40,000 entries of one ID" after ticket -log "$tmp/oneid-40k.log" svc-42
hostile "1,000,000 entries of one ID" after ticket -log "$tmp/oneid.log" svc-42
hostile "1,000,000 entries of one ID" after report -log "$tmp/oneid.log"
for build in before after; do
	hostile "500 lines of 1 MiB, 500 kinds" $build report -log "$tmp/long.log"
	hostile "500 lines of 1 MiB, one ID" $build ticket -log "$tmp/long.log" svc-42
done
