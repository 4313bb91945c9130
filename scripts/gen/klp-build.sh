#!/bin/sh
# klp-build.sh CACHE: build the livepatch modules of testdata/gen/klp-build
# with upstream klp-build (scripts/livepatch/klp-build of linux-source-7.2)
# and copy them to testdata/gen/klp-build/ko, with a README.md
# that records the tool versions, the commands and how long each took.
#
# klp-build only works from the root of an in-tree build and starts with
# `make clean`, so it gets its own tree, CACHE/gen/klp-build/linux, never the
# e2e test kernel's. The tree is configured exactly as testkernel.sh
# configures the test kernel (tinyconfig + testkernel.config, the same
# KBUILD_BUILD_* values), so the modules' vermagic is the test kernel's.
#
# The first patch runs the whole pipeline (the original build, ~6 min on
# two cores) and keeps klp-tmp (-T); every further patch starts at step 2
# (-S 2) on that kept original build. A kept, complete original build is
# reused on the next run too: remove CACHE/gen/klp-build to start over.
set -eu

[ $# -eq 1 ] || { echo "usage: klp-build.sh CACHE" >&2; exit 2; }
cache=$1
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fragment=$root/testdata/e2e/testkernel.config
gen=$root/testdata/gen/klp-build
SRCPKG=linux-source-7.2

die() {
	echo "klp-build.sh: $*" >&2
	exit 1
}

# Each patch, in build order, with the options it gets beyond the default
# (atomic replace). The output module is named after the patch.
PATCHES="klpb_replace:
klpb_noreplace:--no-replace
klpb_sympos:
klpb_kobject:
klpb_static:"

# The same values as testkernel.sh: vermagic and the banner match.
KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970'
KBUILD_BUILD_USER=klpack
KBUILD_BUILD_HOST=klpack
export KBUILD_BUILD_TIMESTAMP KBUILD_BUILD_USER KBUILD_BUILD_HOST

dir=$cache/gen/klp-build
tree=$dir/linux
hash=$(sha256sum <"$fragment" | cut -c1-16)
log=$dir/gen.log
timings=$dir/timings
mkdir -p "$dir"

# A tree for another fragment is rebuilt from scratch.
if [ ! -f "$dir/.configured-$hash" ]; then
	start=$(date +%s)
	. "$root/scripts/e2e/sid-apt.sh"
	sid_apt_config "$cache/e2e/kernels/apt-sid"
	sid_unpack "$cache/e2e/$SRCPKG" "$SRCPKG"
	tarball=$(ls "$cache/e2e/$SRCPKG"/usr/src/linux-source-*.tar.* 2>/dev/null | head -n 1)
	[ -n "$tarball" ] || die "no source tarball in $SRCPKG"
	rm -rf "$tree" "$dir"/.configured-*
	mkdir -p "$tree"
	tar -xf "$tarball" -C "$tree" --strip-components=1
	(
		cd "$tree"
		make tinyconfig
		scripts/kconfig/merge_config.sh -m .config "$fragment"
		make olddefconfig
	) >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "configuration failed (log: $log)"; }
	sh "$root/scripts/e2e/check-config.sh" "$fragment" "$tree/.config" ||
		die "the fragment does not hold in $tree/.config"
	touch "$dir/.configured-$hash"
	echo "klp-build.sh: source unpacked and configured ($(($(date +%s) - start))s)" >&2
fi
: >"$timings"

cd "$tree"
mkdir -p "$gen/ko"
echo "$PATCHES" | while IFS=: read -r name opts; do
	patch=$gen/patches/$name.patch
	[ -f "$patch" ] || die "no $patch"
	if [ -f klp-tmp/1-orig/.complete ]; then
		step="-S 2"
	else
		step=""
	fi
	# shellcheck disable=SC2086 # step and opts are word lists
	set -- ./scripts/livepatch/klp-build -j2 -T $step $opts -o "$dir/$name.ko" "$patch"
	echo "klp-build.sh: $name: $*" >&2
	start=$(date +%s)
	"$@" >>"$log" 2>&1 || { tail -n 40 "$log" >&2; die "$name: klp-build failed (log: $log)"; }
	took=$(($(date +%s) - start))
	cp "$dir/$name.ko" "$gen/ko/$name.ko"
	echo "$name|$opts|${step:-(full)}|$took" >>"$timings"
	# Later runs reuse the original build: keep what the full one took.
	[ -n "$step" ] || echo "$name $took" >"$dir/full-run"
	echo "klp-build.sh: $name.ko built in ${took}s" >&2
done

release=$(make -s kernelrelease)
tools/objtool/objtool klp 2>&1 | grep -q "not implemented" && die "objtool has no klp support (libxxhash-dev)"
objtool_ver=$(sha256sum tools/objtool/objtool | cut -c1-16)
xxhash=$(dpkg-query -W -f '${Version}' libxxhash-dev 2>/dev/null || echo unknown)
src=$(ls "$cache/e2e/$SRCPKG"/usr/src/linux-source-*.tar.* | head -n 1)
srcver=$(zcat "$cache/e2e/$SRCPKG/usr/share/doc/$SRCPKG/changelog.Debian.gz" 2>/dev/null |
	sed -n '1s/.*(\(.*\)).*/\1/p')

{
	cat <<EOF
# klp-build modules

Built by \`make testdata-klp-build\` (\`sh scripts/gen/klp-build.sh CACHE\`)
with upstream klp-build, \`scripts/livepatch/klp-build\` of $SRCPKG
(\`$(basename "$src")\`${srcver:+, package version $srcver}), kernel release
\`$release\`, in CACHE/gen/klp-build/linux configured as the test kernel
(tinyconfig + testdata/e2e/testkernel.config, fragment sha256 $hash...; the
e2e tests refuse these modules once the fragment changes: rebuild them
then). objtool is that tree's own,
built with libxxhash-dev $xxhash (sha256 of the binary: $objtool_ver...).
Do not edit by hand: the script writes this file.

Each module comes from \`../patches/NAME.patch\`, built in the tree's root as

    ./scripts/livepatch/klp-build -j2 -T [-S 2] [OPTIONS] -o NAME.ko NAME.patch

On a fresh tree the first patch runs the whole pipeline (\`make clean\`,
the original build); every later one, and every patch of a later run,
starts at step 2 (\`-S 2\`) on the kept original build (\`-T\` keeps
klp-tmp). Times as measured on the last run (2 cores):

| module | options | step | seconds |
| --- | --- | --- | --- |
EOF
	while IFS='|' read -r name opts step took; do
		echo "| $name | ${opts:-(replace)} | $step | $took |"
	done <"$timings"
	if [ -f "$dir/full-run" ]; then
		read -r fname ftook <"$dir/full-run"
		cat <<EOF

The last full run ($fname: \`make clean\`, the original and the patched
kernel builds, the diff and the module) took $ftook s. The modules are
reproducible: a run on the kept original build writes the same bytes.
EOF
	fi
} >"$gen/ko/README.md"
echo "klp-build.sh: done; modules and README.md in $gen/ko" >&2
