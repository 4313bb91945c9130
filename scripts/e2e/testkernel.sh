#!/bin/sh
# testkernel.sh CACHE [VARIANT]: build klpack's test kernel and the e2e
# modules for it, then print "RELEASE BZIMAGE MODULEDIR" (prepare.sh's list
# line). VARIANT hybrid or replace-set builds the test kernel with our
# implementation of that livepatch model (testdata/e2e/kernel/VARIANT.patch)
# instead: a copy of the test kernel's tree, patched and rebuilt (only what
# the patch touches recompiles), its release suffixed -VARIANT. VARIANT
# rebuild is the same source built again under another build version (#2):
# the same release string, another vmlinux build-id (the pinning proof).
#
# The kernel is linux-source-7.2 (Debian sid) configured with
# `make tinyconfig`, our fragment testdata/e2e/testkernel.config merged in
# (scripts/kconfig/merge_config.sh) and `make olddefconfig`; every option of
# the fragment is then checked in the final .config (check-config.sh).
# Tree and image live in CACHE/testkernel/<hash>, keyed by the hash of the
# fragment, so a second run only prints the line (after a change to this
# script, remove CACHE/testkernel). The tree
# keeps certs/signing_key.pem, the key its modules are signed with.
set -eu

[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: testkernel.sh CACHE [hybrid|replace-set|rebuild]" >&2; exit 2; }
cache=$1
variant=${2:-}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

here=$(cd "$(dirname "$0")" && pwd)
fragment=$(cd "$here/../../testdata/e2e" && pwd)/testkernel.config
SRCPKG=linux-source-7.2

die() {
	echo "testkernel: $*" >&2
	exit 1
}

hash=$(sha256sum <"$fragment" | cut -c1-16)
dir=$cache/testkernel/$hash
tree=$dir/linux

if [ ! -f "$dir/.klpack-complete" ]; then
	start=$(date +%s)
	. "$here/sid-apt.sh"
	sid_apt_config "$cache/e2e/kernels/apt-sid"
	sid_unpack "$cache/e2e/$SRCPKG" "$SRCPKG"
	tarball=$(ls "$cache/e2e/$SRCPKG"/usr/src/linux-source-*.tar.* 2>/dev/null | head -n 1)
	[ -n "$tarball" ] || die "no source tarball in $SRCPKG"
	rm -rf "$dir"
	mkdir -p "$tree"
	tar -xf "$tarball" -C "$tree" --strip-components=1
	echo "testkernel: source unpacked ($(($(date +%s) - start))s)" >&2

	KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970'
	KBUILD_BUILD_USER=klpack
	KBUILD_BUILD_HOST=klpack
	export KBUILD_BUILD_TIMESTAMP KBUILD_BUILD_USER KBUILD_BUILD_HOST
	log=$dir/build.log
	(
		cd "$tree"
		make tinyconfig
		scripts/kconfig/merge_config.sh -m .config "$fragment"
		make olddefconfig
	) >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "configuration failed (log: $log)"; }
	sh "$here/check-config.sh" "$fragment" "$tree/.config" ||
		die "the fragment does not hold in $tree/.config (fix testdata/e2e/testkernel.config)"
	echo "testkernel: configured, every option of the fragment holds; building (5-7 min)" >&2
	make -C "$tree" -j2 bzImage modules >>"$log" 2>&1 ||
		{ tail -n 30 "$log" >&2; die "build failed (log: $log)"; }
	[ -f "$tree/certs/signing_key.pem" ] || die "no certs/signing_key.pem: module signing is off"
	make -s -C "$tree" kernelrelease >"$dir/release"
	touch "$dir/.klpack-complete"
	echo "testkernel: $(cat "$dir/release") built in $dir ($(($(date +%s) - start))s)" >&2
fi

if [ "$variant" = rebuild ]; then
	vhash=$(printf '%s rebuild 2\n' "$hash" | sha256sum | cut -c1-16)
	vdir=$cache/testkernel/$vhash-$variant
	if [ ! -f "$vdir/.klpack-complete" ]; then
		start=$(date +%s)
		rm -rf "$vdir"
		mkdir -p "$vdir"
		cp -a "$tree" "$vdir/linux"
		# No code change, no LOCALVERSION: only the banner's "#2" differs,
		# so only init/version-timestamp.o and the link are redone, and
		# the release string stays the base's.
		KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970'
		KBUILD_BUILD_USER=klpack
		KBUILD_BUILD_HOST=klpack
		KBUILD_BUILD_VERSION=2
		export KBUILD_BUILD_TIMESTAMP KBUILD_BUILD_USER KBUILD_BUILD_HOST KBUILD_BUILD_VERSION
		log=$vdir/build.log
		echo "testkernel: rebuild: relinking under build version 2" >&2
		make -C "$vdir/linux" -j2 bzImage modules >"$log" 2>&1 ||
			{ tail -n 30 "$log" >&2; die "rebuild failed (log: $log)"; }
		make -s -C "$vdir/linux" kernelrelease >"$vdir/release"
		[ "$(cat "$vdir/release")" = "$(cat "$dir/release")" ] ||
			die "rebuild: release $(cat "$vdir/release") is not the base's $(cat "$dir/release")"
		touch "$vdir/.klpack-complete"
		echo "testkernel: $(cat "$vdir/release") rebuilt in $vdir ($(($(date +%s) - start))s)" >&2
	fi
	dir=$vdir
	tree=$vdir/linux
	hash=$vhash-$variant
elif [ -n "$variant" ]; then
	patch=$(cd "$here/../../testdata/e2e/kernel" && pwd)/$variant.patch
	[ -f "$patch" ] || die "no kernel patch for variant $variant ($patch)"
	vhash=$(cat "$fragment" "$patch" | sha256sum | cut -c1-16)
	vdir=$cache/testkernel/$vhash-$variant
	if [ ! -f "$vdir/.klpack-complete" ]; then
		start=$(date +%s)
		rm -rf "$vdir"
		mkdir -p "$vdir"
		# A full copy, not hard links: the compiler rewrites objects in
		# place, which would change the base tree's through a link.
		cp -a "$tree" "$vdir/linux"
		patch -s -d "$vdir/linux" -p1 <"$patch" || die "$variant.patch does not apply to $SRCPKG"
		log=$vdir/build.log
		echo "testkernel: $variant: patched, rebuilding what the patch touches" >&2
		make -C "$vdir/linux" -j2 LOCALVERSION="-$variant" bzImage modules >"$log" 2>&1 ||
			{ tail -n 30 "$log" >&2; die "$variant build failed (log: $log)"; }
		make -s -C "$vdir/linux" LOCALVERSION="-$variant" kernelrelease >"$vdir/release"
		touch "$vdir/.klpack-complete"
		echo "testkernel: $(cat "$vdir/release") built in $vdir ($(($(date +%s) - start))s)" >&2
	fi
	dir=$vdir
	tree=$vdir/linux
	hash=$vhash-$variant
fi

mods=$cache/e2e/modules/test-$hash
sh "$here/build-modules.sh" "$tree" "$mods"
# The tree's own modules (samples/kobject) go beside ours: they are the
# module target of the tool-built patches in testdata/gen.
for ko in "$tree"/samples/kobject/*.ko; do
	if [ -f "$ko" ]; then cp "$ko" "$mods/"; fi
done
echo "$(cat "$dir/release") $tree/arch/x86/boot/bzImage $mods"
