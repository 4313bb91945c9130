#!/bin/sh
# kpatch-build.sh CACHE [NAME...]: build the kpatch-build livepatch modules
# of testdata/gen/kpatch-build from its patches/NAME.patch, into its ko/
# (all of them without NAMEs).
#
# kpatch 0.9.11 comes from Debian sid's source package, its upstream tarball
# (kpatch_0.9.11.orig.tar.gz, checked against KPATCH_SHA256), fetched with a
# private apt configuration (scripts/e2e/sid-apt.sh, plus deb-src) and built
# on this machine: sid's binary package needs glibc 2.38. Only kpatch-build's
# own tools are built (CACHE/gen/kpatch, once).
#
# kpatch-build runs against a copy of the test kernel's tree
# (scripts/e2e/testkernel.sh) in CACHE/gen/kpatch-build/linux: it rebuilds
# the tree it is given (its own compiler wrapper, -ffunction-sections), so
# it must not touch the tree e2e boots. -v is the test kernel's own vmlinux,
# saved before the first run, so symbol positions are those of the kernel
# that boots; the KBUILD_BUILD_* values are testkernel.sh's, so vermagic and
# the build identity match.
set -eu

[ $# -ge 1 ] || { echo "usage: kpatch-build.sh CACHE [NAME...]" >&2; exit 2; }
cache=$1
shift
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
gen=$repo/testdata/gen/kpatch-build
KPATCH_VERSION=0.9.11
KPATCH_SHA256=b5f60ce70f7b471f937f1dc71695a3af762df27cc8e047a11c8790de02ee3598

# Each module: name, kpatch-build's options (a replace patch unless -R),
# and make variables for kpatch-build's builds of the tree.
#
# kpb_module patches samples/kobject/kobject-example.ko. The test kernel has
# CONFIG_KLP_BUILD, under which Kbuild runs objtool on each single-object
# module's object, so that object carries .orc_unwind; create-diff-object
# copies it into the patch, and objtool, run again on the linked patch
# module, fails ("file already has .orc_unwind section, skipping").
# Building that one object without objtool in this copy of the tree (only
# its symbols matter here) lets objtool write the patch module's ORC.
MODULES="kpb_replace::
kpb_noreplace:-R:
kpb_module::OBJECT_FILES_NON_STANDARD_kobject-example.o=y"

die() {
	echo "kpatch-build: $*" >&2
	exit 1
}

# The test kernel, where testkernel.sh keeps it (keyed by the hash of the
# config fragment). testkernel.sh also builds the e2e modules, which this
# does not need: only a kernel that is not there yet is worth its failure.
hash=$(sha256sum <"$repo/testdata/e2e/testkernel.config" | cut -c1-16)
tree=$cache/testkernel/$hash/linux
if [ ! -f "$cache/testkernel/$hash/.klpack-complete" ]; then
	sh "$repo/scripts/e2e/testkernel.sh" "$cache" >/dev/null || true
	[ -f "$cache/testkernel/$hash/.klpack-complete" ] || die "no test kernel in $tree (make testkernel)"
fi
[ -f "$tree/vmlinux" ] && [ -f "$tree/.config" ] || die "no vmlinux or .config in $tree"

# kpatch 0.9.11, built once.
kpatch=$cache/gen/kpatch
kdir=$kpatch/kpatch-$KPATCH_VERSION
if [ ! -f "$kpatch/.klpack-complete" ]; then
	start=$(date +%s)
	. "$repo/scripts/e2e/sid-apt.sh"
	sid_apt_config "$kpatch/apt-sid"
	# sid_apt_config writes binary sources only; the source index is ours.
	echo "deb-src$sid_signed $sid_archive sid main" >>"$kpatch/apt-sid/etc/sources.list"
	sandbox=""
	[ "$(id -u)" -eq 0 ] && sandbox="-oAPT::Sandbox::User=root"
	if [ -z "$(find "$kpatch/apt-sid/state/lists" -maxdepth 1 -name '*Sources*' -mtime -1 2>/dev/null)" ]; then
		# shellcheck disable=SC2086 # the options are split on purpose
		apt-get $sandbox $SID_APT_OPTS -qq update >&2 || die "apt-get update (deb-src sid) failed"
	fi
	rm -rf "$kpatch/src"
	mkdir -p "$kpatch/src"
	# --tar-only: the upstream tarball alone (apt checks it against the
	# signed Sources index); the archive this runs against serves no .dsc.
	# shellcheck disable=SC2086
	(cd "$kpatch/src" && apt-get $sandbox $SID_APT_OPTS -q source --download-only --tar-only kpatch >&2) ||
		die "apt-get source kpatch failed"
	orig=$kpatch/src/kpatch_$KPATCH_VERSION.orig.tar.gz
	[ -f "$orig" ] || die "sid's kpatch is no longer $KPATCH_VERSION: $(ls "$kpatch/src")"
	echo "$KPATCH_SHA256  $orig" | sha256sum -c --quiet - || die "$orig: unexpected sha256"
	rm -rf "$kdir"
	tar -xzf "$orig" -C "$kpatch"
	[ -d "$kdir" ] || die "$orig does not unpack to kpatch-$KPATCH_VERSION"
	# Only kpatch-build's tools: the kmod and man directories are for
	# installing, and kpatch-build runs from its source directory.
	make -C "$kdir/kpatch-build" -j2 >"$kpatch/build.log" 2>&1 ||
		{ tail -n 30 "$kpatch/build.log" >&2; die "building kpatch failed (log: $kpatch/build.log)"; }
	touch "$kpatch/.klpack-complete"
	echo "kpatch-build: kpatch $KPATCH_VERSION built ($(($(date +%s) - start))s)" >&2
fi
"$kdir/kpatch-build/kpatch-build" --version | grep -q "$KPATCH_VERSION" || die "$kdir is not kpatch $KPATCH_VERSION"

# The copy of the test kernel's tree, made again when the test kernel
# changes (its directory is keyed by the config fragment's hash).
kb=$cache/gen/kpatch-build
if [ "$(cat "$kb/linux.hash" 2>/dev/null)" != "$hash" ]; then
	start=$(date +%s)
	rm -rf "$kb/linux" "$kb/vmlinux" "$kb/config" "$kb/linux.hash"
	mkdir -p "$kb"
	cp -a "$tree" "$kb/linux"
	cp "$tree/vmlinux" "$kb/vmlinux"
	cp "$tree/.config" "$kb/config"
	echo "$hash" >"$kb/linux.hash"
	echo "kpatch-build: test kernel tree $hash copied ($(($(date +%s) - start))s)" >&2
fi

KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970'
KBUILD_BUILD_USER=klpack
KBUILD_BUILD_HOST=klpack
# kpatch-build keeps its scratch files and log under CACHEDIR (default
# ~/.kpatch).
CACHEDIR=$kb/kpatch-cache
export KBUILD_BUILD_TIMESTAMP KBUILD_BUILD_USER KBUILD_BUILD_HOST CACHEDIR

want=$*
mkdir -p "$gen/ko"
echo "$MODULES" | while IFS=: read -r name opts vars; do
	[ -z "$want" ] || case " $want " in *" $name "*) ;; *) continue ;; esac
	patch=$gen/patches/$name.patch
	[ -f "$patch" ] || die "no $patch"
	start=$(date +%s)
	rm -rf "$kb/out"
	mkdir -p "$kb/out"
	echo "kpatch-build: $name: ${vars:+MAKEFLAGS=' -- $vars' }kpatch-build -j2 -s -c -v -n $name -o OUT $opts $name.patch (5-8 min)" >&2
	# MAKEFLAGS carries the variables to every make kpatch-build runs (an
	# environment variable named like them would not pass through sh).
	# shellcheck disable=SC2086 # opts are kpatch-build's options
	if ! MAKEFLAGS="${vars:+ -- $vars}" "$kdir/kpatch-build/kpatch-build" -j 2 -s "$kb/linux" -c "$kb/config" -v "$kb/vmlinux" \
		-n "$name" -o "$kb/out" $opts "$patch" >"$kb/$name.log" 2>&1; then
		tail -n 20 "$kb/$name.log" >&2
		[ -f "$CACHEDIR/build.log" ] && tail -n 40 "$CACHEDIR/build.log" >&2
		die "$name failed (logs: $kb/$name.log, $CACHEDIR/build.log)"
	fi
	cp "$kb/out/$name.ko" "$gen/ko/$name.ko"
	echo "kpatch-build: $name.ko built ($(($(date +%s) - start))s)" >&2
done
