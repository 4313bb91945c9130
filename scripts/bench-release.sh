#!/bin/sh
# bench-release: time `klpack release` of testdata/klpack.yaml (every rpm
# and deb, the apt and dnf repositories, SHA256SUMS) side by side with the
# same packages and repositories made by the tools a user would use
# instead: rpmbuild -bb and dpkg-deb --build of equivalent trees,
# createrepo_c and apt-ftparchive. Unsigned on both sides (--snapshot).
#   KLPACK=bin/klpack sh scripts/bench-release.sh
set -eu
KLPACK=$(realpath "${KLPACK:-bin/klpack}")
CONFIG=$(realpath "${1:-testdata/klpack.yaml}")
RUNS=${RUNS:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000

# The trees klpack's own debs install, one per package, and an rpm spec
# per package that installs the same tree (no debuginfo, strip or other
# post-install passes: they would change the .ko).
"$KLPACK" release -f "$CONFIG" --snapshot -o "$work/k" >/dev/null
mkdir -p "$work/rpm/SPECS" "$work/trees"
for deb in $(find "$work/k/deb/pool" -name '*.deb' | sort); do
	name=$(dpkg-deb -f "$deb" Package)
	tree=$work/trees/$name
	dpkg-deb -R "$deb" "$tree"
	{
		echo "%define debug_package %{nil}"
		echo "%define __os_install_post %{nil}"
		echo "%global _build_id_links none"
		echo "Name: $name"
		echo "Version: 1.0"
		echo "Release: 1"
		echo "Summary: livepatch (bench)"
		echo "License: GPL-2.0-only"
		echo "BuildArch: x86_64"
		echo "%description"
		echo "bench"
		echo "%install"
		echo "mkdir -p %{buildroot}"
		echo "cp -a $tree/usr %{buildroot}/"
		[ -d "$tree/etc" ] && echo "cp -a $tree/etc %{buildroot}/"
		for s in postinst:post prerm:preun postrm:postun; do
			if [ -f "$tree/DEBIAN/${s%%:*}" ]; then
				echo "%${s#*:}"
				sed 1d "$tree/DEBIAN/${s%%:*}"
			fi
		done
		echo "%files"
		(cd "$tree" && find usr etc -type f 2>/dev/null | sed 's|^|/|')
	} >"$work/rpm/SPECS/$name.spec"
done

# What the user's tools do for the same release, as one command.
cat >"$work/by-hand.sh" <<SCRIPT
set -e
rm -rf $work/h && mkdir -p $work/h/rpm $work/h/deb/pool/main $work/h/deb/dists/stable/main/binary-amd64
for spec in $work/rpm/SPECS/*.spec; do
	rpmbuild --quiet -bb --define '_topdir $work/rpm' --define '_rpmdir $work/h/rpm' \$spec
done
for tree in $work/trees/*; do
	dpkg-deb --root-owner-group -Zgzip --build \$tree $work/h/deb/pool/main/ >/dev/null
done
createrepo_c -q $work/h/rpm
cd $work/h/deb
apt-ftparchive packages pool > dists/stable/main/binary-amd64/Packages
gzip -kn9 dists/stable/main/binary-amd64/Packages
apt-ftparchive -o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Components=main \
	-o APT::FTPArchive::Release::Architectures=amd64 release dists/stable > dists/stable/Release
cd $work/h && find . -type f \( -name '*.rpm' -o -name '*.deb' \) | sort | xargs sha256sum > SHA256SUMS
SCRIPT

hyperfine --warmup 2 --runs "$RUNS" --export-markdown "$work/result.md" \
	-n "klpack release --snapshot" "$KLPACK release -f $CONFIG --snapshot -o $work/out" \
	-n "rpmbuild + dpkg-deb + createrepo_c + apt-ftparchive" "sh $work/by-hand.sh"
cat "$work/result.md"
