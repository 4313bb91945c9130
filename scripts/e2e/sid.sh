#!/bin/sh
# sid.sh E2EDIR: get Debian sid's 7.2 kernel and build the e2e modules for
# it, then print "RELEASE VMLINUZ MODULEDIR" (prepare.sh's list line).
#
#   E2EDIR/kernels/7.2.13+deb14-amd64   linux-binary (vmlinuz)
#   E2EDIR/sid-headers                  linux-headers (arch and common) and
#                                       linux-kbuild, unpacked as under /,
#                                       the /usr/src and /usr/lib paths in
#                                       the Makefiles rewritten to point here
#   E2EDIR/linux-source-7.2             the linux-source-7.2 package (its
#                                       tarball; testkernel.sh uses it too)
#   E2EDIR/sid-source                   linux-source-7.2, configured with
#                                       Debian's config, for the host tools
#   E2EDIR/modules/7.2.13+deb14-amd64   the e2e modules
#
# sid's kbuild programs are linked against glibc 2.38 and bookworm has 2.36,
# so objtool and modpost are rebuilt from linux-source-7.2 (olddefconfig,
# modules_prepare) and put in place of the packaged ones. Debian built 7.2
# with gcc-16; the modules are built with bookworm's gcc-12, without the
# -fmin-function-alignment flag gcc-12 lacks, and without module BTF
# (bookworm's pahole rejects 7.2's flags). Everything is cached.
set -eu

[ $# -eq 1 ] || { echo "usage: sid.sh E2EDIR" >&2; exit 2; }
e2e=$1
mkdir -p "$e2e"
e2e=$(cd "$e2e" && pwd)

VERSION=7.2.13
ABI=$VERSION+deb14
RELEASE=$ABI-amd64
SRCPKG=linux-source-7.2
CC12=x86_64-linux-gnu-gcc-12

here=$(cd "$(dirname "$0")" && pwd)
die() {
	echo "sid: $*" >&2
	exit 1
}
command -v "$CC12" >/dev/null 2>&1 || die "$CC12 not found (Debian package gcc-12)"

# The kernel image.
sh "$here/fetch-kernel.sh" sid "linux-binary-$RELEASE" "$e2e/kernels/$RELEASE" >&2

. "$here/sid-apt.sh"
sid_apt_config "$e2e/kernels/apt-sid"

start=$(date +%s)
hdr=$e2e/sid-headers
sid_unpack "$hdr" "linux-headers-$RELEASE" "linux-headers-$ABI-common" "linux-kbuild-$ABI" "linux-base-$RELEASE"
kdir=$hdr/usr/src/linux-headers-$RELEASE
[ -f "$kdir/Makefile" ] || die "no $kdir/Makefile in the headers"

# Absolute paths into /usr/src and /usr/lib: rewrite them, and the
# absolute symlinks, to the unpacked tree.
if [ ! -f "$hdr/.klpack-paths" ]; then
	grep -rlI --include=Makefile -e /usr/src/ -e /usr/lib/linux-kbuild "$hdr/usr/src" 2>/dev/null |
		while IFS= read -r f; do
			sed -i -e "s#\([ =]\)/usr/src/#\1$hdr/usr/src/#g" -e "s#\([ =]\)/usr/lib/linux-kbuild#\1$hdr/usr/lib/linux-kbuild#g" "$f"
		done
	find "$hdr" -type l | while IFS= read -r l; do
		target=$(readlink "$l")
		case $target in
		/usr/*) ln -sfn "$hdr$target" "$l" ;;
		esac
	done
	touch "$hdr/.klpack-paths"
fi

# objtool and modpost from the source, with Debian's config.
src=$e2e/sid-source
kbuild=$hdr/usr/lib/linux-kbuild-$ABI
if [ ! -f "$src/.klpack-tools" ]; then
	sid_unpack "$e2e/$SRCPKG" "$SRCPKG"
	if [ ! -f "$src/.klpack-unpacked" ]; then
		tarball=$(ls "$e2e/$SRCPKG"/usr/src/linux-source-*.tar.* 2>/dev/null | head -n 1)
		[ -n "$tarball" ] || die "no source tarball in $SRCPKG"
		rm -rf "$src"
		mkdir -p "$src"
		tar -xf "$tarball" -C "$src" --strip-components=1
		touch "$src/.klpack-unpacked"
	fi
	cp "$kdir/.config" "$src/.config"
	make -C "$src" -j2 CC="$CC12" HOSTCC=gcc CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT= olddefconfig >"$src/tools.log" 2>&1 ||
		{ tail -n 30 "$src/tools.log" >&2; die "olddefconfig failed (log: $src/tools.log)"; }
	make -C "$src" -j2 CC="$CC12" HOSTCC=gcc CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT= modules_prepare >>"$src/tools.log" 2>&1 ||
		{ tail -n 30 "$src/tools.log" >&2; die "modules_prepare failed (log: $src/tools.log)"; }
	touch "$src/.klpack-tools"
fi
for tool in tools/objtool/objtool scripts/mod/modpost; do
	[ -x "$src/$tool" ] || die "$src/$tool was not built"
	if ! cmp -s "$src/$tool" "$kbuild/$tool"; then
		mkdir -p "$(dirname "$kbuild/$tool")"
		cp "$src/$tool" "$kbuild/$tool"
	fi
done
echo "sid: headers and host tools ready ($(($(date +%s) - start))s)" >&2

sh "$here/build-modules.sh" "$kdir" "$e2e/modules/$RELEASE" \
	CC="$CC12" CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT= CONFIG_DEBUG_INFO_BTF_MODULES=
echo "$RELEASE $e2e/kernels/$RELEASE/vmlinuz $e2e/modules/$RELEASE"
