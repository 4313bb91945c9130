#!/bin/sh
# bench-fleet: time `klpack check --fleet` over a generated inventory of
# 1,000,000 hosts in 2,000 combinations (10 cumulative releases x 200
# off-band subsets, scripts/fleetgen) against one release, side by side
# with `jq -c . >/dev/null` over the same file: what a fleet engineer
# would otherwise script with. Prints both times and their ratio
# (target: klpack <= 0.25x jq), klpack's peak RSS (target < 512 MB), and
# klpack's time on 100,000 hosts of the same combinations (linear: 1M
# takes at most 10x; less, for the fixed cost of the 2,000 checks).
#   KLPACK=bin/klpack sh scripts/bench-fleet.sh
set -eu
KLPACK=$(realpath "${KLPACK:-bin/klpack}")
HOSTS=${HOSTS:-1000000}
GO=${GO:-go}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
release=testdata/ko/6.1.0-56-amd64/lp_replace.ko

$GO run ./scripts/fleetgen -hosts "$HOSTS" -out "$work/big"
$GO run ./scripts/fleetgen -hosts $((HOSTS / 10)) -out "$work/small"

# run LABEL CMD...: the wall time and peak RSS of one run, as
# "seconds kbytes" in $work/LABEL.
run() {
	label=$1
	shift
	/usr/bin/time -f "%e %M" -o "$work/$label.time" "$@" >/dev/null 2>"$work/$label.err" || {
		rc=$?
		# check's exit 1 is findings, the run itself is fine.
		[ $rc -eq 1 ] || { cat "$work/$label.err" >&2; exit $rc; }
	}
}

export CI=1 # no progress bar in the timed runs
run small "$KLPACK" check --fleet "$work/small/inventory.jsonl" --manifests "$work/small/manifests" "$release"
run big "$KLPACK" check --fleet "$work/big/inventory.jsonl" --manifests "$work/big/manifests" "$release"
run jq jq -c . "$work/big/inventory.jsonl"

size=$(stat -c %s "$work/big/inventory.jsonl")
read -r ts ms <<EOF
$(tail -n 1 "$work/small.time")
EOF
read -r tb mb <<EOF
$(tail -n 1 "$work/big.time")
EOF
read -r tj mj <<EOF
$(tail -n 1 "$work/jq.time")
EOF
awk -v ts="$ts" -v tb="$tb" -v tj="$tj" -v mb="$mb" -v ms="$ms" -v n="$HOSTS" -v size="$size" 'BEGIN {
	printf "fleet: %d hosts, 2000 combinations, %.0f MB of JSON Lines\n", n, size / 1e6
	printf "  klpack check --fleet   %7.2f s   peak RSS %4.0f MB   (target < 512 MB)\n", tb, mb / 1024
	printf "  jq -c . >/dev/null     %7.2f s\n", tj
	printf "  ratio klpack/jq        %7.3fx     (target <= 0.25x)\n", tb / tj
	printf "  %d hosts            %7.2f s   peak RSS %4.0f MB\n", n / 10, ts, ms / 1024
	printf "  10x hosts took         %7.2fx time (linear: at most 10x)\n", tb / ts
	printf "  each 100000 hosts more %7.3f s   (the rest is fixed: manifests, the scan, 2000 checks)\n", (tb - ts) / 9
}'
