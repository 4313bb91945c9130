#!/bin/sh
# mutate.sh [flags] MUTANTS: mutation testing of a klpack checkout; see
# scripts/mutate/main.go for the mutant list format and the results.
#
#   sh scripts/mutate.sh -dir /path/to/checkout -o results.txt \
#       -testflags '-skip TestRebuildScansIdentically|TestDebianTrees' mutants.txt
set -eu
exec go run "$(cd "$(dirname "$0")" && pwd)/mutate/main.go" "$@"
