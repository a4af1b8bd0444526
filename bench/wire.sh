#!/usr/bin/env bash
# mk's Kafka client against kcat (librdkafka), on one mk broker's TCP
# listener, on the same lines, in the same run: each figure is a ratio of
# medians over RUNS alternating runs (the order swaps every run), because
# shared machines are noisy. Usage: bench/wire.sh [RECORDS] [RUNS]
# (default 1,000,000 100-byte lines, 7 runs; WIRE_PRODUCE_ONLY=1 skips the
# consume runs). Needs kcat.
#
# Prints: mk produce -b vs kcat -P (one partition, acks=all both), once
# idempotent both (mk's default; kcat -X enable.idempotence=true) and once
# not (mk --idempotence=false; kcat's default), and mk consume -b -e vs
# kcat -C -e, both to /dev/null: records/s of each, the ratio mk/kcat
# (>= 1: mk is as fast or faster), and the CPU time (user+sys) of each.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
RUNS=${2:-7}
command -v kcat >/dev/null || { echo "bench/wire.sh: needs kcat (apt-get install kcat)" >&2; exit 1; }
work=$(mktemp -d)
trap 'MK_DIR=$work/cluster ./bench/out/mk cluster stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p bench/out
go build -o bench/out/mk .
mk=$PWD/bench/out/mk
export MK_DIR=$work/cluster

# 100-byte lines (99 characters and a newline).
awk -v n="$N" 'BEGIN { s = sprintf("%099d", 0); for (i = 0; i < n; i++) print s }' > "$work/input"

$mk cluster start --brokers 1 --listen 127.0.0.1:0 >/dev/null
b=$($mk cluster bootstrap)

# timed FILE CMD...: appends "wall cpu" (seconds) of CMD to FILE.
timed() {
	local out=$1
	shift
	/usr/bin/time -f "%e %U %S" -o "$work/t" "$@"
	awk '{ printf "%s %.2f\n", $1, $2 + $3 }' "$work/t" >> "$out"
}
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
cpu() { awk '{ print $2 }' "$1" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
report() { # NAME MKFILE KCATFILE
	local m k
	m=$(awk '{ print $1 }' "$2" > "$work/w"; median "$work/w")
	k=$(awk '{ print $1 }' "$3" > "$work/w"; median "$work/w")
	awk -v n="$N" -v m="$m" -v k="$k" -v mc="$(cpu "$2")" -v kc="$(cpu "$3")" -v name="$1" 'BEGIN {
		printf "%s: mk %.0f records/s (cpu %.2f s), kcat %.0f records/s (cpu %.2f s): mk/kcat = %.2f\n", name, n / m, mc, n / k, kc, k / m }'
}

: > "$work/topics"
# produce NAME MKFLAGS KCATFLAGS: RUNS alternating runs of each.
produce() {
	local name=$1 mkflags=$2 kcatflags=$3 i m k
	: > "$work/mp"
	: > "$work/kp"
	for i in $(seq "$RUNS"); do
		m="m$name$i" k="k$name$i"
		$mk topic create "$m" >/dev/null
		$mk topic create "$k" >/dev/null
		echo "$m $k" >> "$work/topics"
		if [ $((i % 2)) = 1 ]; then
			timed "$work/mp" "$mk" produce -b "$b" $mkflags "$m" < "$work/input"
			timed "$work/kp" kcat -P -b "$b" $kcatflags -t "$k" -p 0 < "$work/input"
		else
			timed "$work/kp" kcat -P -b "$b" $kcatflags -t "$k" -p 0 < "$work/input"
			timed "$work/mp" "$mk" produce -b "$b" $mkflags "$m" < "$work/input"
		fi
	done
	report "produce, acks=all, $name" "$work/mp" "$work/kp"
}
produce idempotent "" "-X enable.idempotence=true"
produce plain "--idempotence=false" ""

# Every run above delivered every line.
for t in $(cat "$work/topics"); do
	$mk describe topic "$t" -b "$b" -o json | grep -q "\"high_watermark\": $N," || { echo "topic $t: not $N records" >&2; exit 1; }
done

if [ -n "${WIRE_PRODUCE_ONLY:-}" ]; then
	uptime
	exit 0
fi

: > "$work/mc"
: > "$work/kc"
for i in $(seq "$RUNS"); do
	if [ $((i % 2)) = 1 ]; then
		timed "$work/mc" sh -c "'$mk' consume -b '$b' midempotent1 -e > /dev/null"
		timed "$work/kc" sh -c "kcat -C -b '$b' -t midempotent1 -e -q > /dev/null"
	else
		timed "$work/kc" sh -c "kcat -C -b '$b' -t midempotent1 -e -q > /dev/null"
		timed "$work/mc" sh -c "'$mk' consume -b '$b' midempotent1 -e > /dev/null"
	fi
done
report "consume -e" "$work/mc" "$work/kc"
uptime
