#!/bin/sh
# Build klpack's test kernel modules (testdata/src) for every kernel we test
# against, and write each module as built, stripped two ways and compressed
# three ways.
#
# usage: testdata/build.sh [OUTDIR]        (default OUTDIR: testdata/ko)
#
# Output: OUTDIR/<kernel release>/<module>{.ko,.strip-debug.ko,
#         .strip-unneeded.ko,.ko.xz,.ko.zst,.ko.gz}
#
# The sources are copied to a fixed directory per kernel,
#   ${XDG_CACHE_HOME:-$HOME/.cache}/klpack/testdata-build/<kernel release>
# so the paths recorded in DWARF do not change between rebuilds.
# Missing kernel headers or pahole (dwarves) are installed with apt-get.
set -eu

KVERS="6.1.0-56-amd64 6.12.117+deb12-amd64"

here=$(cd "$(dirname "$0")" && pwd)
src="$here/src"
. "$here/../scripts/variants.sh"
outdir=${1:-"$here/ko"}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/klpack/testdata-build

# Fixed build identity, so the output does not depend on who built it when.
KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970'
KBUILD_BUILD_USER=klpack
KBUILD_BUILD_HOST=klpack
SOURCE_DATE_EPOCH=0
LC_ALL=C
TZ=UTC
export KBUILD_BUILD_TIMESTAMP KBUILD_BUILD_USER KBUILD_BUILD_HOST \
	SOURCE_DATE_EPOCH LC_ALL TZ

die() {
	echo "build.sh: $*" >&2
	exit 1
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $*"
	fi
}

apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		as_root apt-get update -q
		apt_updated=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

for tool in make gcc strip xz zstd gzip; do
	command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"
done
if ! command -v pahole >/dev/null 2>&1; then
	apt_install dwarves
fi

[ -f "$src/Kbuild" ] || die "no Kbuild in $src"
mkdir -p "$outdir"

for kver in $KVERS; do
	kdir=/usr/src/linux-headers-$kver
	if ! test -d "$kdir"; then
		apt_install "linux-headers-$kver"
	fi
	test -d "$kdir" || die "headers for $kver not found in $kdir"

	start=$(date +%s)

	# Fresh copy of the sources in the fixed build directory.
	bdir=$cache/$kver
	rm -rf "$bdir"
	mkdir -p "$bdir"
	cp -R "$src/." "$bdir/"
	cp "$here/../templates/klpack_livepatch.h" "$bdir/"

	log=$bdir/build.log
	if ! make -C "$kdir" M="$bdir" -j2 modules >"$log" 2>&1; then
		cat "$log" >&2
		die "Kbuild failed for $kver (log: $log)"
	fi

	[ -f "$bdir/modules.order" ] || die "no modules.order in $bdir"
	dest=$outdir/$kver
	rm -rf "$dest"
	mkdir -p "$dest"

	n=0
	# modules.order lists foo.o (6.12) or foo.ko (6.1), one per line.
	for entry in $(cat "$bdir/modules.order"); do
		name=$(basename "$entry")
		name=${name%.o}
		name=${name%.ko}
		ko=$bdir/$name.ko
		[ -f "$ko" ] || die "$kver: $ko was not built"

		write_variants "$ko" "$dest" "$name"
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || die "$kver: no modules built"

	warnings=$(grep -c 'warning' "$log" || true)
	size=$(du -sh "$dest" | cut -f1)
	end=$(date +%s)
	echo "$kver: $n modules, $((n * 6)) files, $size in $dest," \
		"$warnings warning lines, $((end - start))s"
done
