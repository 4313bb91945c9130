#!/bin/sh
# prepare.sh [KERNEL...]: get everything the e2e test boots, for each kernel
# (default: all of them), and write the list the test reads:
#
#   $KLPACK_CACHE/e2e/kernels/<release>/     the unpacked Debian kernel package
#   $KLPACK_CACHE/e2e/modules/<release>/     the e2e modules built for it
#   $KLPACK_CACHE/e2e/kernels.list           "NAME RELEASE VMLINUZ MODULEDIR"
#   $KLPACK_CACHE/e2e/bin/insmod             the guests' insmod (insmod.c)
#
# KERNEL is one of: 6.1 (bookworm), 6.12 (bookworm-security), 7.2 (sid),
# test (our own test kernel, scripts/e2e/testkernel.sh), test-hybrid and
# test-replace-set (the test kernel with our implementation of that model),
# test-rebuild (the test kernel built again: same release, another build-id).
# KLPACK_CACHE defaults to ~/.cache/klpack. Everything is cached: a second
# run only checks stamps. Headers of the bookworm kernels come from
# /usr/src (the Makefile's install-deps installs them).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${KLPACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/klpack}
e2e=$cache/e2e
mkdir -p "$e2e"

[ $# -gt 0 ] || set -- 6.1 6.12

die() {
	echo "prepare: $*" >&2
	exit 1
}

list=$e2e/kernels.list.tmp.$$
trap 'rm -f "$list"' EXIT
: >"$list"

debian() {
	name=$1
	suite=$2
	release=$3
	start=$(date +%s)
	sh "$here/fetch-kernel.sh" "$suite" "linux-image-$release" "$e2e/kernels/$release"
	kdir=/usr/src/linux-headers-$release
	[ -f "$kdir/Makefile" ] || die "$name: no headers in $kdir (make install-deps installs linux-headers-$release)"
	sh "$here/build-modules.sh" "$kdir" "$e2e/modules/$release"
	echo "$name $release $e2e/kernels/$release/vmlinuz $e2e/modules/$release" >>"$list"
	echo "prepare: $name ready ($(($(date +%s) - start))s)" >&2
}

# The guests' insmod (insmod.c): static, rebuilt when its source changes.
insmod=$e2e/bin/insmod
sum=$(sha256sum <"$here/insmod.c" | cut -c1-16)
if [ ! -x "$insmod" ] || [ "$(cat "$insmod.stamp" 2>/dev/null)" != "$sum" ]; then
	mkdir -p "$e2e/bin"
	gcc -static -Os -Wall -Werror -o "$insmod.tmp" "$here/insmod.c" || die "cannot build $insmod (gcc -static: libc6-dev)"
	mv "$insmod.tmp" "$insmod"
	echo "$sum" >"$insmod.stamp"
fi

for k in "$@"; do
	case $k in
	6.1) debian 6.1 system 6.1.0-56-amd64 ;;
	6.12) debian 6.12 system 6.12.117+deb12-amd64 ;;
	7.2)
		start=$(date +%s)
		line=$(sh "$here/sid.sh" "$e2e")
		echo "7.2 $line" >>"$list"
		echo "prepare: 7.2 ready ($(($(date +%s) - start))s)" >&2
		;;
	test | test-hybrid | test-replace-set | test-rebuild)
		start=$(date +%s)
		variant=
		[ "$k" = test ] || variant=${k#test-}
		line=$(sh "$here/testkernel.sh" "$cache" $variant)
		echo "$k $line" >>"$list"
		echo "prepare: $k ready ($(($(date +%s) - start))s)" >&2
		;;
	*) die "unknown kernel $k (want 6.1, 6.12, 7.2, test, test-hybrid, test-replace-set or test-rebuild)" ;;
	esac
done
mv "$list" "$e2e/kernels.list"
trap - EXIT
cat "$e2e/kernels.list"
