#!/bin/sh
# bench-go.sh: run every Go benchmark (go test -bench . -benchmem ./...),
# print their output, then the issue-18 targets read from it:
#   check   BenchmarkCheck deployed=10000 at most 12x deployed=1000 (in
#           one kernel's functions), and no slower than BenchmarkParseState
#           deployed=10000 (one parse of the same set's state file); and,
#           for the reader, the same ratio when the kernel's functions grow
#           tenfold with the patches
#   state   BenchmarkParseState at least 100 MB/s
# Exits non-zero when a benchmark fails, not when a target is missed:
# the figures are for the reader.
#   GO=go sh scripts/bench-go.sh       (PKGS=./pkg/check for one package)
set -eu
GO=${GO:-go}
PKGS=${PKGS:-./...}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
$GO test -run '^$' -bench . -benchmem $PKGS >"$out" 2>&1 || rc=$?
cat "$out"
[ "$rc" -eq 0 ] || exit "$rc"

# ns NAME: the ns/op of the benchmark line NAME (the -N suffix aside).
ns() {
	awk -v n="$1" '$1 ~ "^"n"(-[0-9]+)?$" { for (i = 2; i < NF; i++) if ($(i+1) == "ns/op") { print $i; exit } }' "$out"
}
c1=$(ns 'BenchmarkCheck/deployed=1000')
c10=$(ns 'BenchmarkCheck/deployed=10000')
p10=$(ns 'BenchmarkParseState/deployed=10000')
g1=$(ns 'BenchmarkCheck/deployed=1000,pool=20000')
g10=$(ns 'BenchmarkCheck/deployed=10000,pool=200000')
echo
echo "== targets (issue 18)"
awk -v c1="$c1" -v c10="$c10" -v p10="$p10" -v g1="$g1" -v g10="$g10" 'BEGIN {
	if (c1 == "" || c10 == "" || p10 == "") { print "check: BenchmarkCheck or BenchmarkParseState missing"; exit }
	printf "check: 10,000 deployed %.3f s = %.1fx the 1,000 case (target <= 12x), %.2fx one parse of its state file %.3f s (target <= 1.0x)\n", c10 / 1e9, c10 / c1, c10 / p10, p10 / 1e9
	if (g1 != "" && g10 != "")
		printf "check: with the functions growing with the patches (20,000 to 200,000): %.3f s = %.1fx\n", g10 / 1e9, g10 / g1
}'
awk '$1 ~ /^BenchmarkParseState\// { for (i = 2; i < NF; i++) if ($(i+1) == "MB/s") printf "state: %s %s MB/s (target >= 100)\n", $1, $i }' "$out"
