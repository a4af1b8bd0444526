#!/usr/bin/env bash
# Alternates cat and mk produce --acks 1 (local cluster, one partition,
# through the leader broker's socket) for each binary given, several
# rounds in one run, and prints medians of each binary's rate as a ratio
# to cat's (the cat run just before it) and of its CPU (user+sys) per GB
# of input.
# Usage: ROUNDS=7 RECORDS=3000000 BROKERS=3 bench/produce_ab.sh BINARY...
# (bench/run.sh: 3,000,000 records, 3 brokers, replication factor 1)
set -euo pipefail
R=${ROUNDS:-7} N=${RECORDS:-3000000} A=$1
work=$(mktemp -d)
export MK_DIR=$work/cluster
trap '"$A" cluster stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
awk -v n="$N" 'BEGIN { s = sprintf("%099d", 0); for (i = 0; i < n; i++) print s }' > "$work/input"
bytes=$(stat -c %s "$work/input")
"$A" cluster start --brokers "${BROKERS:-3}" >/dev/null
topic=0
"$A" topic create perf$topic --partitions 1 --replication-factor 1 >/dev/null
now() { date +%s.%N; }
run() { # label binary
	local a b c
	# cat writes a new file, as mk writes a new topic's segment: freeing
	# the last copy's pages is not counted against cat.
	rm -f "$work/copy"
	a=$(now); cat "$work/input" > "$work/copy"; b=$(now)
	local catt; catt=$(awk -v a="$a" -v b="$b" 'BEGIN{print b-a}')
	a=$(now); /usr/bin/time -f '%U %S' -o "$work/t" "$2" produce perf$topic --acks 1 < "$work/input"; b=$(now)
	# A new topic for each run, so the disk holds one run's records.
	"$A" topic delete perf$topic >/dev/null
	topic=$((topic + 1))
	"$A" topic create perf$topic --partitions 1 --replication-factor 1 >/dev/null
	awk -v l="$1" -v ct="$catt" -v a="$a" -v b="$b" -v g="$bytes" '{ printf "%s %.4f %.3f\n", l, ct/(b-a), ($1+$2)/(g/1e9) }' "$work/t" >> "$work/res"
}
for i in $(seq "$R"); do
	for b in "$@"; do run "$b" "$b"; done
done
for l in "$@"; do
	grep "^$l " "$work/res" | awk '{print $2}' | sort -n | awk -v l="$l" '{a[NR]=$1} END{printf "%s ratio-to-cat median %.3f (min %.3f max %.3f)", l, a[int((NR+1)/2)], a[1], a[NR]}'
	grep "^$l " "$work/res" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END{printf "  cpu s/GB median %.3f\n", a[int((NR+1)/2)]}'
done
uptime
