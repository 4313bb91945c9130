#!/bin/sh
# fetch-trees.sh [CACHEDIR]: download two real Debian module trees that the
# elfscan tests and scripts/bench-compare.sh run against:
#
#   CACHEDIR/6.1  bookworm's linux-image-6.1.0-56-amd64 (signed plain .ko)
#   CACHEDIR/7.2  sid's linux-modules-7.2.13+deb14-amd64 (signed .ko.xz)
#
# Nothing is installed system-wide: packages are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x`. bookworm comes from the
# machine's apt sources; sid comes from a private apt configuration under
# CACHEDIR/apt, so the system's sources, lists and cache are never touched.
# Running it again skips every tree already extracted.
set -eu

CACHEDIR=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/klpack/trees}

PKG61=${KLPACK_PKG61:-linux-image-6.1.0-56-amd64}
PKG72=${KLPACK_PKG72:-linux-modules-7.2.13+deb14-amd64}
SYSTEM_SOURCES=/etc/apt/sources.list.d/debian.sources
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() {
	echo "fetch-trees: $*" >&2
	exit 1
}

for tool in apt-get dpkg-deb find; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (needs a Debian-like system)"
done

mkdir -p "$CACHEDIR"
CACHEDIR=$(cd "$CACHEDIR" && pwd)

# As root, apt downloads as the _apt user, which cannot write into a cache
# under /root: download as root instead (and without the warning).
SANDBOX=""
[ "$(id -u)" -eq 0 ] && SANDBOX="-oAPT::Sandbox::User=root"

count_modules() {
	find "$1" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' | wc -l
}

# extract DEST DEB: unpack DEB into DEST through a temporary directory, so
# that an interrupted run never leaves a half tree that looks complete.
extract() {
	dest=$1
	deb=$2
	tmp="$dest.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	dpkg-deb -x "$deb" "$tmp"
	touch "$tmp/.klpack-complete"
	rm -rf "$dest"
	mv "$tmp" "$dest"
}

# download DIR PKG [apt options...]: apt-get download PKG into DIR, printing
# the .deb's path.
download() {
	dir=$1
	pkg=$2
	shift 2
	mkdir -p "$dir"
	# apt-get download writes into the current directory.
	(cd "$dir" && apt-get $SANDBOX "$@" download "$pkg" >&2) || die "apt-get download $pkg failed"
	deb=$(ls -t "$dir"/*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || die "apt-get download $pkg produced no .deb in $dir"
	echo "$deb"
}

# --- bookworm: the system's apt sources --------------------------------------
if [ -f "$CACHEDIR/6.1/.klpack-complete" ]; then
	echo "6.1: already extracted, skipping" >&2
else
	echo "6.1: fetching $PKG61 from the system's apt sources" >&2
	if ! apt-cache show "$PKG61" >/dev/null 2>&1; then
		die "$PKG61 is unknown to apt; run 'apt-get update' (as root) first"
	fi
	rm -rf "$CACHEDIR/debs/6.1"
	deb=$(download "$CACHEDIR/debs/6.1" "$PKG61")
	extract "$CACHEDIR/6.1" "$deb"
fi

# --- sid: a private apt configuration ----------------------------------------
if [ -f "$CACHEDIR/7.2/.klpack-complete" ]; then
	echo "7.2: already extracted, skipping" >&2
else
	[ -r "$SYSTEM_SOURCES" ] || die "$SYSTEM_SOURCES not readable: cannot find the Debian archive URI"
	# The first URIs line of a stanza that is not the security archive.
	archive=$(awk '
		/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }
	' "$SYSTEM_SOURCES")
	[ -n "$archive" ] || die "no archive URI found in $SYSTEM_SOURCES"
	echo "7.2: fetching $PKG72 from $archive sid (private apt config under $CACHEDIR/apt)" >&2

	apt_dir="$CACHEDIR/apt"
	mkdir -p "$apt_dir/etc" "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial"
	signed_by=""
	[ -r "$KEYRING" ] && signed_by=" [signed-by=$KEYRING]"
	echo "deb$signed_by $archive sid main" >"$apt_dir/etc/sources.list"
	: >"$apt_dir/state/status"
	set -- \
		-o "Dir::State=$apt_dir/state" \
		-o "Dir::State::Lists=$apt_dir/state/lists" \
		-o "Dir::State::status=$apt_dir/state/status" \
		-o "Dir::Etc::SourceList=$apt_dir/etc/sources.list" \
		-o "Dir::Etc::SourceParts=/dev/null" \
		-o "Dir::Etc::Preferences=/dev/null" \
		-o "Dir::Etc::PreferencesParts=/dev/null" \
		-o "Dir::Cache=$apt_dir/cache" \
		-o "Dir::Cache::pkgcache=" \
		-o "Dir::Cache::srcpkgcache=" \
		-o "APT::Get::List-Cleanup=false" \
		-o "Acquire::Languages=none"
	apt-get $SANDBOX "$@" -qq update >&2 || die "apt-get update of the private sid config failed"
	rm -rf "$CACHEDIR/debs/7.2"
	deb=$(download "$CACHEDIR/debs/7.2" "$PKG72" "$@")
	extract "$CACHEDIR/7.2" "$deb"
fi

# The .deb files are not needed once unpacked.
rm -rf "$CACHEDIR/debs"

for v in 6.1 7.2; do
	echo "$v: $(count_modules "$CACHEDIR/$v") modules in $CACHEDIR/$v"
done
echo "KLPACK_TREES=$CACHEDIR"
