#!/usr/bin/env bash
# Whole-process benchmarks of mk, each quoted as a ratio against a baseline
# measured in the same run on the same bytes, because shared machines are
# noisy. Usage: bench/run.sh [RECORDS]   (default 3,000,000 100-byte lines)
#
# Prints: cat's bytes/s copying the input to a file; mk produce (acks=1,
# one partition, through the leader broker's socket) records/s and its ratio
# to cat; mk produce acks=all to a topic of replication factor 3 and its
# ratio to acks=1 with replication factor 1; mk consume --from-beginning
# -e > /dev/null records/s; produce-to-consume latency at 1,000 records/s;
# peak RSS of mk produce on a 1 GB input; CPU of an idle broker; leader
# failover (SIGKILL to the first acknowledged produce, measured in one
# process by a Go benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3000000}
work=$(mktemp -d)
trap 'MK_DIR=$work/cluster ./bench/out/mk cluster stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p bench/out
go build -o bench/out/mk .
mk=$PWD/bench/out/mk
export MK_DIR=$work/cluster

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

# 100-byte lines (99 characters and a newline).
awk -v n="$N" 'BEGIN { s = sprintf("%099d", 0); for (i = 0; i < n; i++) print s }' > "$work/input"
bytes=$(stat -c %s "$work/input")

a=$(now); cat "$work/input" > "$work/copy"; b=$(now)
cat_bps=$(rate "$bytes" "$a" "$b")
echo "cat: $((cat_bps / 1000000)) MB/s ($(rate "$N" "$a" "$b") lines/s)"

$mk cluster start --brokers 3 >/dev/null
$mk topic create perf --partitions 1 --replication-factor 1
$mk topic create perf3 --partitions 1 --replication-factor 3
a=$(now); $mk produce perf --acks 1 < "$work/input"; b=$(now)
p_rps=$(rate "$N" "$a" "$b"); p_bps=$(rate "$bytes" "$a" "$b")
echo "mk produce: $p_rps records/s, $((p_bps / 1000000)) MB/s = $(awk -v x="$p_bps" -v y="$cat_bps" 'BEGIN{printf "%.1f", 100*x/y}')% of cat"

a=$(now); $mk produce perf3 --acks all < "$work/input"; b=$(now)
a_rps=$(rate "$N" "$a" "$b")
echo "mk produce --acks all, replication factor 3: $a_rps records/s = $(awk -v x="$a_rps" -v y="$p_rps" 'BEGIN{printf "%.2f", x/y}')x acks=1 with replication factor 1"

a=$(now); $mk consume perf --from-beginning -e > /dev/null; b=$(now)
echo "mk consume: $(rate "$N" "$a" "$b") records/s"

$mk bench e2e --topic e2e --rate 1000 --records 5000

# Peak RSS of a producer on ~1 GB of input (streamed, never on disk).
awk 'BEGIN { s = sprintf("%099d", 0); for (i = 0; i < 10000000; i++) print s }' |
	$mk bench exec -- "$mk" produce big --acks 1

# CPU of an idle broker over 5 seconds.
pid=$($mk describe cluster -o json | awk -F': ' '/"pid"/ { gsub(/,/, "", $2); print $2; exit }')
t0=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat); sleep 5; t1=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
hz=$(getconf CLK_TCK)
echo "idle broker: $(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.2f", 100 * d / hz / 5 }')% of a core"

# Leader failover, 20 rounds (p50, p99, max in ms).
go test -run '^$' -bench LeaderFailover -benchtime 20x . | grep '^BenchmarkLeaderFailover'
