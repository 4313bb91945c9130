#!/bin/sh
# build-modules.sh KDIR OUTDIR [MAKE-VARIABLE=VALUE...]: build the e2e
# modules (testdata/e2e/src) with Kbuild against the kernel build or
# headers directory KDIR, and put the .ko files in OUTDIR.
#
# The sources are built in OUTDIR.build. OUTDIR/.klpack-stamp holds the hash
# of the sources, KDIR and the variables: when it matches, nothing is done.
# The variables go to make (e.g. CC=... for sid's 7.2, see build-sid.sh).
set -eu

[ $# -ge 2 ] || { echo "usage: build-modules.sh KDIR OUTDIR [VAR=VALUE...]" >&2; exit 2; }
kdir=$1
out=$2
shift 2

die() {
	echo "build-modules: $*" >&2
	exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../testdata/e2e/src" && pwd)
# The hook modules include klpack's header, as livepatch authors do.
header=$(cd "$here/../../templates" && pwd)/klpack_livepatch.h
[ -f "$kdir/Makefile" ] || die "no kernel build directory at $kdir (install its headers)"

klprela=$here/klprela
stamp=$( (cd "$src" && find . -type f | LC_ALL=C sort | xargs sha256sum; cat "$header" "$klprela/main.go" | sha256sum; echo "$kdir $*") | sha256sum | cut -c1-16)
if [ -f "$out/.klpack-stamp" ] && [ "$(cat "$out/.klpack-stamp")" = "$stamp" ]; then
	exit 0
fi

# Fixed build identity: the modules do not depend on who built them when.
KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970'
KBUILD_BUILD_USER=klpack
KBUILD_BUILD_HOST=klpack
SOURCE_DATE_EPOCH=0
LC_ALL=C
export KBUILD_BUILD_TIMESTAMP KBUILD_BUILD_USER KBUILD_BUILD_HOST SOURCE_DATE_EPOCH LC_ALL

start=$(date +%s)
bdir=$out.build
rm -rf "$bdir"
mkdir -p "$bdir"
cp -R "$src/." "$bdir/"
cp "$header" "$bdir/"
log=$bdir/build.log
if ! make -C "$kdir" M="$bdir" -j2 "$@" modules >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	die "Kbuild failed against $kdir (log: $log)"
fi
# e2e_kr's klp relocation: Kbuild writes a plain one (see e2e_kr.c).
(cd "$here/../.." && go run ./scripts/e2e/klprela "$bdir/e2e_kr.ko" e2e_target .e2e_kr_ref) || die "klprela failed on $bdir/e2e_kr.ko"
rm -rf "$out"
mkdir -p "$out"
n=0
for ko in "$bdir"/*.ko; do
	[ -f "$ko" ] || continue
	cp "$ko" "$out/"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || die "no module built in $bdir"
echo "$stamp" >"$out/.klpack-stamp"
echo "build-modules: $n modules against $kdir in $out ($(($(date +%s) - start))s)" >&2
