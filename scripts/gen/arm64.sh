#!/bin/sh
# arm64.sh CACHE: cross-build klpack's hand-written samples (testdata/src)
# for arm64 and write each module as testdata/build.sh does for x86_64: as
# built, stripped two ways and compressed three ways, in
# testdata/ko/<kernel release> (7.2.13-arm64).
#
# The kernel is linux-source-7.2 (Debian sid, the test kernel's source)
# configured with `make ARCH=arm64 tinyconfig`, our fragment
# testdata/gen/arm64/arm64.config merged in and `make olddefconfig`; every
# option of the fragment is then checked in the final .config. Only
# `make modules_prepare` runs (a vmlinux would take most of the time): so
# there is no Module.symvers, and modpost, which then calls every imported
# symbol unresolved, runs with KBUILD_MODPOST_WARN=1 to warn instead of
# fail. The modules come out the same: their imports (klp_enable_patch
# and friends) stay undefined in a .ko either way, the samples export
# nothing to each other (depends= is empty) and MODVERSIONS is off. The
# prepared tree lives in CACHE/gen/arm64/linux and is reused while the
# fragment is unchanged (after a change to how this script prepares it,
# remove CACHE/gen/arm64). From a clean CACHE/gen/arm64 on two busy cores:
# unpack 52 s, configure and modules_prepare 26 s, modules 8 s.
set -eu

[ $# -eq 1 ] || { echo "usage: arm64.sh CACHE" >&2; exit 2; }
cache=$1
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/scripts/variants.sh"
fragment=$root/testdata/gen/arm64/arm64.config
src=$root/testdata/src
SRCPKG=linux-source-7.2
CROSS=aarch64-linux-gnu-

die() {
	echo "arm64: $*" >&2
	exit 1
}

# Fixed build identity, so the output does not depend on who built it when.
KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970'
KBUILD_BUILD_USER=klpack
KBUILD_BUILD_HOST=klpack
SOURCE_DATE_EPOCH=0
LC_ALL=C
TZ=UTC
export KBUILD_BUILD_TIMESTAMP KBUILD_BUILD_USER KBUILD_BUILD_HOST \
	SOURCE_DATE_EPOCH LC_ALL TZ
kmake() {
	make ARCH=arm64 CROSS_COMPILE=$CROSS "$@"
}

# make testdata-arm64 installs these (mk/gen.mk).
for tool in make "${CROSS}gcc" "${CROSS}strip" xz zstd gzip flex bison bc; do
	command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool (make testdata-arm64 installs it)"
done
[ -f "$src/Kbuild" ] || die "no Kbuild in $src"

# The source tarball, downloaded once for the e2e test kernel.
tarball=$(ls "$cache/e2e/$SRCPKG"/usr/src/linux-source-*.tar.* 2>/dev/null | head -n 1 || true)
if [ -z "$tarball" ]; then
	. "$root/scripts/e2e/sid-apt.sh"
	sid_apt_config "$cache/e2e/kernels/apt-sid"
	sid_unpack "$cache/e2e/$SRCPKG" "$SRCPKG"
	tarball=$(ls "$cache/e2e/$SRCPKG"/usr/src/linux-source-*.tar.* 2>/dev/null | head -n 1 || true)
	[ -n "$tarball" ] || die "no source tarball in $cache/e2e/$SRCPKG"
fi

gen=$cache/gen/arm64
tree=$gen/linux
stamp=$(sha256sum <"$fragment" | cut -c1-16)
total=$(date +%s)

if [ "$(cat "$gen/.klpack-prepared" 2>/dev/null || true)" != "$stamp" ]; then
	start=$(date +%s)
	rm -rf "$tree" "$gen/.klpack-prepared"
	mkdir -p "$tree"
	tar -xf "$tarball" -C "$tree" --strip-components=1
	echo "arm64: source unpacked ($(($(date +%s) - start))s)" >&2
	# Livepatch on arm64 is recent: refuse a tree that cannot have it
	# before Kconfig silently drops CONFIG_LIVEPATCH.
	grep -q 'select HAVE_LIVEPATCH' "$tree/arch/arm64/Kconfig" ||
		die "$SRCPKG: arch/arm64/Kconfig does not select HAVE_LIVEPATCH"

	start=$(date +%s)
	log=$gen/prepare.log
	(
		cd "$tree"
		kmake tinyconfig
		ARCH=arm64 scripts/kconfig/merge_config.sh -m .config "$fragment"
		kmake olddefconfig
	) >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "configuration failed (log: $log)"; }
	sh "$root/scripts/e2e/check-config.sh" "$fragment" "$tree/.config" ||
		die "the fragment does not hold in $tree/.config (fix testdata/gen/arm64/arm64.config)"
	kmake -C "$tree" -j2 modules_prepare >>"$log" 2>&1 ||
		{ tail -n 30 "$log" >&2; die "modules_prepare failed (log: $log)"; }
	echo "$stamp" >"$gen/.klpack-prepared"
	echo "arm64: configured and modules_prepare done ($(($(date +%s) - start))s)" >&2
fi
release=$(kmake -s -C "$tree" kernelrelease)
# The directory below is replaced whole: never one of another kernel.
case $release in
*-arm64) ;;
*) die "kernel release '$release' does not end in -arm64 (CONFIG_LOCALVERSION)" ;;
esac

# Fresh copy of the sources in a fixed directory, so the paths recorded in
# DWARF do not change between rebuilds.
start=$(date +%s)
bdir=$gen/build
rm -rf "$bdir"
mkdir -p "$bdir"
cp -R "$src/." "$bdir/"
cp "$root/templates/klpack_livepatch.h" "$bdir/"
log=$bdir/build.log
kmake -C "$tree" M="$bdir" KBUILD_MODPOST_WARN=1 -j2 modules >"$log" 2>&1 ||
	{ cat "$log" >&2; die "Kbuild failed (log: $log)"; }
[ -f "$bdir/modules.order" ] || die "no modules.order in $bdir"

dest=$root/testdata/ko/$release
rm -rf "$dest"
mkdir -p "$dest"
n=0
for entry in $(cat "$bdir/modules.order"); do
	name=$(basename "$entry")
	name=${name%.o}
	name=${name%.ko}
	ko=$bdir/$name.ko
	[ -f "$ko" ] || die "$ko was not built"
	write_variants "$ko" "$dest" "$name" "${CROSS}strip"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || die "no modules built"

# Compiler warnings; modpost's unresolved-symbol WARNINGs are expected.
warnings=$(grep -c 'warning:' "$log" || true)
echo "arm64: $release: $n modules, $((n * 6)) files, $(du -sh "$dest" | cut -f1) in $dest," \
	"$warnings warning lines, built in $(($(date +%s) - start))s ($(($(date +%s) - total))s in all)" >&2
