#!/bin/sh
# bench-pack: time `klpack package` (rpm + deb of one release) side by side
# with `rpmbuild -bb` of an equivalent spec and `dpkg-deb --build` of an
# equivalent tree, holding the very files klpack's deb installs.
#   KLPACK=bin/klpack sh scripts/bench-pack.sh [RELEASE]
set -eu
KLPACK=${KLPACK:-bin/klpack}
RELEASE=${1:-testdata/release-6.1-v2.yaml}
RUNS=${RUNS:-10}
KLPACK=$(realpath "$KLPACK")
RELEASE=$(realpath "$RELEASE")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000

# The files of the release's (first) package, from klpack's own deb.
mkdir "$work/k" "$work/tree"
"$KLPACK" package --format deb -o "$work/k" "$RELEASE" >/dev/null
deb=$(ls "$work"/k/*.deb | head -n 1)
dpkg-deb -x "$deb" "$work/tree"
mkdir "$work/tree/DEBIAN"
dpkg-deb -e "$deb" "$work/ctl"
cp "$work/ctl/control" "$work/ctl/postinst" "$work/ctl/prerm" "$work/tree/DEBIAN/"
name=$(dpkg-deb -f "$deb" Package)

# An rpm spec that installs the same tree, with the same scripts; no
# debuginfo, strip or other post-install passes (they would change the .ko).
mkdir -p "$work/rpm/SPECS"
{
	echo "%define debug_package %{nil}"
	echo "%define __os_install_post %{nil}"
	echo "%global _build_id_links none"
	echo "Name: $name"
	echo "Version: 1.0"
	echo "Release: 2"
	echo "Summary: livepatch (bench)"
	echo "License: GPL-2.0-only"
	echo "BuildArch: x86_64"
	echo "Requires: kernel-uname-r = 6.1.0_56-amd64" # rpmbuild takes one "-" in an EVR
	echo "%description"
	echo "bench"
	echo "%install"
	echo "mkdir -p %{buildroot}"
	echo "cp -a $work/tree/usr %{buildroot}/"
	echo "%post"
	sed 1d "$work/ctl/postinst"
	echo "%preun"
	sed 1d "$work/ctl/prerm"
	echo "%files"
	(cd "$work/tree" && find usr -type f | sed 's|^|/|')
} >"$work/rpm/SPECS/bench.spec"

mkdir "$work/out"
hyperfine --warmup 2 --runs "$RUNS" --export-markdown "$work/result.md" \
	-n "klpack package (rpm + deb)" "$KLPACK package -o $work/out $RELEASE" \
	-n "klpack package (rpm only)" "$KLPACK package --format rpm -o $work/out $RELEASE" \
	-n "rpmbuild -bb" "rpmbuild --quiet -bb --define '_topdir $work/rpm' $work/rpm/SPECS/bench.spec" \
	-n "dpkg-deb --build" "dpkg-deb --root-owner-group -Zgzip --build $work/tree $work/out/bench.deb"
cat "$work/result.md"
