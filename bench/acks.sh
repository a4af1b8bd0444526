#!/usr/bin/env bash
# acks=all with replication factor 3 against acks=1 with replication factor
# 1 (issue 9's target: >= 0.6x), measured as bench/run.sh does (mk produce
# of 100-byte lines from a file) but alternately, several rounds in one
# cluster, because on a shared machine one pair of runs says little.
#
# Usage: bench/acks.sh [RECORDS [ROUNDS [MK...]]]
#   RECORDS  lines per run (default 3,000,000)
#   ROUNDS   rounds (default 7)
#   MK...    mk binaries to compare (default: this checkout, built); each
#            gets a cluster of its own, and the rounds alternate between
#            them too, so a baseline build and a candidate meet the same
#            load.
#
# Prints per round and binary: both rates, the wall-clock ratio, the CPU
# ratio (client and brokers: what the ratio tends to on a saturated
# machine) and the load average; then the medians per binary.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3000000}
R=${2:-7}
shift $(($# < 2 ? $# : 2))
bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
	mkdir -p bench/out
	go build -o bench/out/mk .
	bins=("$PWD/bench/out/mk")
fi
work=$(mktemp -d)
cleanup() {
	for i in "${!bins[@]}"; do MK_DIR=$work/c$i "${bins[$i]}" cluster stop >/dev/null 2>&1 || true; done
	rm -rf "$work"
}
trap cleanup EXIT

awk -v n="$N" 'BEGIN { s = sprintf("%099d", 0); for (i = 0; i < n; i++) print s }' >"$work/input"
declare -A pids
for i in "${!bins[@]}"; do
	MK_DIR=$work/c$i "${bins[$i]}" cluster start --brokers 3 >/dev/null
	pids[$i]=$(MK_DIR=$work/c$i "${bins[$i]}" describe cluster -o json | awk -F': ' '/"pid"/ { gsub(/,/, "", $2); print $2 }' | tr '\n' ' ')
done

# ticks: the CPU clock ticks the brokers of cluster $1 have used.
ticks() {
	local t=0 p
	for p in ${pids[$1]}; do t=$((t + $(awk '{ print $14 + $15 }' /proc/"$p"/stat))); done
	echo "$t"
}
hz=$(getconf CLK_TCK)
# run: cluster, topic, acks -> "seconds cpu-seconds" of one mk produce.
run() {
	local b0 b1 out
	b0=$(ticks "$1")
	out=$({ MK_DIR=$work/c$1 /usr/bin/time -f "%e %U %S" "${bins[$1]}" produce "$2" --acks "$3" <"$work/input" >/dev/null; } 2>&1 | tail -1)
	b1=$(ticks "$1")
	echo "$out" | awk -v b=$((b1 - b0)) -v hz="$hz" '{ printf "%s %.2f\n", $1, $2 + $3 + b / hz }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# A warm-up, not counted: the first acks=all producer of a cluster also
# allocates its block of producer ids (meta/producer-ids.json, fsynced).
head -1000 "$work/input" >"$work/warm"
for i in "${!bins[@]}"; do
	export MK_DIR=$work/c$i
	"${bins[$i]}" topic create warm --partitions 1 --replication-factor 3 >/dev/null
	"${bins[$i]}" produce warm --acks all <"$work/warm" >/dev/null
	"${bins[$i]}" topic delete warm >/dev/null
done

for r in $(seq 1 "$R"); do
	for i in "${!bins[@]}"; do
		export MK_DIR=$work/c$i
		"${bins[$i]}" topic create "one$r" --partitions 1 --replication-factor 1 >/dev/null
		"${bins[$i]}" topic create "three$r" --partitions 1 --replication-factor 3 >/dev/null
		read -r w1 c1 < <(run "$i" "one$r" 1)
		read -r w3 c3 < <(run "$i" "three$r" all)
		"${bins[$i]}" topic delete "one$r" >/dev/null
		"${bins[$i]}" topic delete "three$r" >/dev/null
		line=$(awk -v n="$N" -v w1="$w1" -v w3="$w3" -v c1="$c1" -v c3="$c3" 'BEGIN {
			printf "%.0f %.0f %.3f %.3f", n / w1, n / w3, w1 / w3, c1 / c3 }')
		read -r r1 r3 ratio cpu <<<"$line"
		echo "round $r ${bins[$i]}: acks=1 rf1 $r1 records/s, acks=all rf3 $r3 records/s, ratio $ratio, cpu ratio $cpu, load $(cut -d' ' -f1 /proc/loadavg)"
		echo "$ratio $cpu" >>"$work/res$i"
	done
done
for i in "${!bins[@]}"; do
	echo "${bins[$i]}: median ratio $(cut -d' ' -f1 "$work/res$i" | median) (cpu ratio $(cut -d' ' -f2 "$work/res$i" | median)) over $R rounds of $N records; $(uptime)"
done
