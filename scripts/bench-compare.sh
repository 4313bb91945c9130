#!/bin/sh
# bench-compare.sh [TREES]: time whole commands over the Debian module trees
# that scripts/fetch-trees.sh downloads (TREES/6.1: plain .ko, TREES/7.2:
# .ko.xz), side by side:
#
#   modinfo  find TREE -name '*.ko*' | xargs modinfo    (ONE modinfo process)
#   readelf  readelf -S over the same files (one process; for .ko.xz each
#            file is first decompressed with xz -dc, readelf cannot read xz)
#   sha256   sha256sum over the same files (one process): what a user runs
#            besides modinfo for the digests klpack scan records
#   klpack   klpack scan --json TREE
#   nohash   klpack scan --json --no-hash TREE (klpack.scan/v2: no SHA-256
#            of every byte, as modinfo does not hash either)
#
# and prints the seconds of each and the ratios nohash/modinfo (the same
# job) and klpack/(modinfo+sha256) (metadata and digests). Uses
# hyperfine (installed with apt-get when missing and possible), else
# wall-clock timing of RUNS runs after one warm-up.
#
# Environment: KLPACK (default ./bin/klpack), KLPACK_TREES (default the
# fetch-trees.sh cache), RUNS (default 5), WARMUP (default 1), READELF=0
# to skip the readelf column (on 7.2 it forks xz and readelf per file).
set -eu

TREES=${1:-${KLPACK_TREES:-${XDG_CACHE_HOME:-$HOME/.cache}/klpack/trees}}
KLPACK=${KLPACK:-./bin/klpack}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
READELF=${READELF:-1}

die() {
	echo "bench-compare: $*" >&2
	exit 1
}

[ -x "$KLPACK" ] || die "klpack binary $KLPACK not found or not executable (build it, e.g. 'go build -o bin/klpack ./cmd/klpack', or set KLPACK)"
KLPACK=$(cd "$(dirname "$KLPACK")" && pwd)/$(basename "$KLPACK")
for v in 6.1 7.2; do
	[ -d "$TREES/$v" ] || die "module tree $TREES/$v missing: run scripts/fetch-trees.sh"
done
MODINFO=$(command -v modinfo || true)
[ -n "$MODINFO" ] || for p in /usr/sbin/modinfo /sbin/modinfo; do [ -x "$p" ] && MODINFO=$p && break; done
[ -n "$MODINFO" ] || die "modinfo not found (package kmod)"
command -v readelf >/dev/null || die "readelf not found (package binutils)"
command -v xz >/dev/null || die "xz not found (package xz-utils)"

if ! command -v hyperfine >/dev/null 2>&1; then
	echo "bench-compare: hyperfine missing, trying apt-get install hyperfine" >&2
	if [ "$(id -u)" -eq 0 ]; then
		apt-get install -y -qq hyperfine >&2 || true
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo -n apt-get install -y -qq hyperfine >&2 || true
	fi
fi
HYPERFINE=$(command -v hyperfine || true)
[ -n "$HYPERFINE" ] || echo "bench-compare: no hyperfine, timing with date over $RUNS runs" >&2

# xargs splits long argument lists into several processes (128 KiB by
# default); raise its buffer to the system's limit so modinfo runs once.
XARGS_MAX=$(xargs --show-limits </dev/null 2>&1 | awk -F: '/actually use/ { gsub(/ /, "", $2); print $2 }')
[ -n "$XARGS_MAX" ] || XARGS_MAX=131072

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM

# seconds CMD: mean wall seconds of CMD (a sh command line).
seconds() {
	if [ -n "$HYPERFINE" ]; then
		"$HYPERFINE" --style none --ignore-failure --warmup "$WARMUP" --runs "$RUNS" \
			--export-json "$WORK/h.json" "$1" >/dev/null 2>&1 || {
			echo "NaN"
			return
		}
		# hyperfine's JSON: "mean": <seconds>, the first mean is the command's.
		sed -n 's/^ *"mean": *\([0-9.eE+-]*\),*$/\1/p' "$WORK/h.json" | head -n 1
		return
	fi
	i=0
	while [ "$i" -lt "$WARMUP" ]; do
		sh -c "$1" >/dev/null 2>&1 || true
		i=$((i + 1))
	done
	start=$(date +%s%N)
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		sh -c "$1" >/dev/null 2>&1 || true
		i=$((i + 1))
	done
	end=$(date +%s%N)
	awk -v s="$start" -v e="$end" -v n="$RUNS" 'BEGIN { printf "%.3f\n", (e - s) / 1e9 / n }'
}

printf '%-5s %6s %10s %10s %10s %10s %10s %14s %14s %16s\n' tree files modinfo/s readelf/s sha256/s klpack/s nohash/s nohash/modinfo klpack/modinfo 'klpack/(mod+sha)'
for v in 6.1 7.2; do
	tree="$TREES/$v"
	files=$(find "$tree" -name '*.ko*' | wc -l)
	# One modinfo process, or say so.
	listlen=$(find "$tree" -name '*.ko*' -print0 | wc -c)
	if [ "$listlen" -ge "$XARGS_MAX" ]; then
		echo "bench-compare: $v: file list ($listlen bytes) exceeds one command line; modinfo runs more than once" >&2
	fi
	mod_cmd="find '$tree' -name '*.ko*' -print0 | xargs -0 -s $XARGS_MAX '$MODINFO' >/dev/null"
	if find "$tree" -name '*.ko.xz' | head -n 1 | grep -q .; then
		# readelf cannot read xz: decompress each file to a temporary one.
		readelf_cmd="find '$tree' -name '*.ko*' | while read -r f; do xz -dc \"\$f\" >'$WORK/m.ko' && readelf -S '$WORK/m.ko'; done >/dev/null"
	else
		readelf_cmd="find '$tree' -name '*.ko*' -print0 | xargs -0 -s $XARGS_MAX readelf -S >/dev/null"
	fi
	sha_cmd="find '$tree' -name '*.ko*' -print0 | xargs -0 -s $XARGS_MAX sha256sum >/dev/null"
	klpack_cmd="'$KLPACK' scan --json '$tree' >/dev/null"
	nohash_cmd="'$KLPACK' scan --json --no-hash '$tree' >/dev/null"
	# klpack must work before it is timed: a failing run is not a time.
	for c in "$klpack_cmd" "$nohash_cmd"; do
		if ! sh -c "$c" 2>"$WORK/klpack.err"; then
			die "$c failed: $(head -c 2000 "$WORK/klpack.err")"
		fi
	done
	t_mod=$(seconds "$mod_cmd")
	t_readelf=NaN
	[ "$READELF" = 0 ] || t_readelf=$(seconds "$readelf_cmd")
	t_sha=$(seconds "$sha_cmd")
	t_klpack=$(seconds "$klpack_cmd")
	t_nohash=$(seconds "$nohash_cmd")
	ratio=$(awk -v k="$t_klpack" -v m="$t_mod" 'BEGIN { if (m > 0) printf "%.2fx", k / m; else print "n/a" }')
	ratio_nohash=$(awk -v k="$t_nohash" -v m="$t_mod" 'BEGIN { if (m > 0) printf "%.2fx", k / m; else print "n/a" }')
	ratio_both=$(awk -v k="$t_klpack" -v m="$t_mod" -v h="$t_sha" 'BEGIN { if (m + h > 0) printf "%.2fx", k / (m + h); else print "n/a" }')
	printf '%-5s %6d %10.3f %10.3f %10.3f %10.3f %10.3f %14s %14s %16s\n' "$v" "$files" "$t_mod" "$t_readelf" "$t_sha" "$t_klpack" "$t_nohash" "$ratio_nohash" "$ratio" "$ratio_both"
done
echo "($(nproc) CPUs; ${HYPERFINE:+hyperfine, }$RUNS runs after $WARMUP warm-up; readelf on 7.2 includes xz -dc per file)"
echo "targets (issue 18): 6.1 nohash/modinfo <= 1.00x (the same job: neither hashes); 7.2 klpack/modinfo <= 0.60x"
