#!/bin/sh
# The tour `make demo` prints and README.md shows under "Tour": klpack's
# stages in pipeline order on the bundled sample modules, ending with the
# repositories in dist/. internal/tour's TestTour runs this script and
# compares its output with the README word for word, so nothing printed
# here may vary from run to run: key ids, signatures and the keys' temporary
# directory stay out of it (the release command is shown with $KEYS).
#
# Usage: sh scripts/demo.sh KLPACK KEYS
#   KLPACK  the klpack binary
#   KEYS    a directory of throwaway keys (internal/throwaway's file names)
# Run from a directory holding testdata/; dist/ there is replaced.
#
# Tools: clang and llvm-strip (hooks), createrepo_c (the dnf repository),
# rpmkeys (the check of one package's signature): the Makefile's
# DEMO_DEPS; besides those only sh, mktemp, rm, cat, find and sort.
set -eu

[ $# -eq 2 ] || { echo "usage: demo.sh KLPACK KEYS" >&2; exit 2; }
klpack=$1 keys=$2
ko=testdata/ko/6.1.0-56-amd64
# Package and repository dates, so the release is reproducible.
export SOURCE_DATE_EPOCH=1700000000

rm -rf dist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run WANT SHOWN ARGS...: print "$ SHOWN" (the command as a reader would
# type it), run klpack with ARGS, print what it wrote (stderr after
# stdout, in order), and fail unless it exits WANT. Its output goes to a
# file, never a terminal, so a terminal's progress bar or colours cannot
# make the tour differ from README.md's.
run() {
	want=$1 shown=$2
	shift 2
	printf '$ %s\n' "$shown"
	rc=0
	"$klpack" "$@" >"$tmp/out" 2>&1 || rc=$?
	cat "$tmp/out"
	[ "$rc" -eq "$want" ] || { echo "demo: klpack $1 exited $rc, want $want" >&2; exit 1; }
}

echo "== scan: every later stage decides from what a module does to the kernel (replace or not, klp_states, the functions it patches), read from the .ko without loading it."
run 0 "klpack scan $ko/lp_replace.ko" scan "$ko/lp_replace.ko"

echo "== check: the kernel's livepatch rules, replayed against what a host already runs, catch a patch the kernel would refuse before it ships (exit 1)."
run 1 "klpack check --deployed testdata/states/testdata-6.1.json $ko/lp_replace.ko" \
	check --deployed testdata/states/testdata-6.1.json "$ko/lp_replace.ko"

echo "== plan: the same upgrade made safe, as kernel steps each followed by the state the host's loader will verify (and the way back)."
run 0 "klpack plan --deployed testdata/states/testdata-6.1.json $ko/lp_replace.ko $ko/lp_noreplace.ko" \
	plan --deployed testdata/states/testdata-6.1.json "$ko/lp_replace.ko" "$ko/lp_noreplace.ko"

echo "== edges: what a release costs beyond loading, found before it ships: the pr_debug site a patched function loses on the target kernel, and a way back the kernel refuses (warnings, exit 0)."
run 0 "klpack check --target testdata/sites testdata/sites/e2e_nodbg.ko" check --target testdata/sites testdata/sites/e2e_nodbg.ko
run 0 "klpack check --deployed testdata/states/rollback-6.1.json $ko/lp_replace.ko" \
	check --deployed testdata/states/rollback-6.1.json "$ko/lp_replace.ko"

echo "== hooks: a BPF program per hook point (marked in the module by klpack's header) lets hosts switch a fix per cgroup, compiled with clang and validated here."
run 0 "klpack hooks build -o dist/hooks $ko/lp_hook.ko" hooks build -o dist/hooks "$ko/lp_hook.ko"

echo "== release: one command runs every stage over testdata/klpack.yaml and writes dist/ only when all of them pass."
run 0 \
	'klpack release -f testdata/klpack.yaml -o dist --sign-key $KEYS/signing-key.asc --module-key $KEYS/module-key.pem --module-cert $KEYS/module-cert.pem' \
	release -f testdata/klpack.yaml -o dist --sign-key "$keys/signing-key.asc" \
	--module-key "$keys/module-key.pem" --module-cert "$keys/module-cert.pem"

echo "== verify: a host's rpm accepts the packages on the release's public key alone."
rpm=dist/rpm/klp-patch-6.1.0-56-amd64-1.0_1-1.x86_64.rpm
# Shown as a host runs it; here into a scratch rpm database, never the
# machine's own.
echo "\$ rpmkeys --import dist/signing-key.asc && rpmkeys --checksig $rpm"
rpmkeys --root "$tmp" --import dist/signing-key.asc
rpmkeys --root "$tmp" --checksig "$rpm"

# The repodata's data files are named by their hash, which changes with
# every run's signatures; hooks/ was listed by hooks build.
echo "== dist/ is what a fleet installs from: apt and dnf repositories with signed indexes, the public key, the plan, the manifests and a signed SHA256SUMS (hooks/ is listed above; repodata's hash-named files change with each run's signatures)."
echo "\$ find dist -type f ! -path 'dist/hooks/*' ! -name '*.xml.gz' | sort"
find dist -type f ! -path 'dist/hooks/*' ! -name '*.xml.gz' | LC_ALL=C sort
