#!/bin/sh
# fetch-kernel.sh SUITE PACKAGE DEST: download a Debian kernel image package
# and unpack it into DEST; DEST/vmlinuz links to the kernel the e2e tests
# boot (boot/vmlinuz-* in bookworm's packages, usr/lib/modules/*/vmlinuz in
# sid's linux-binary).
#
#   SUITE    system  the machine's own apt sources (bookworm, bookworm-security)
#            sid     a private apt configuration under DEST/../apt-sid; the
#                    system's sources, lists and cache are never touched
#   PACKAGE  e.g. linux-image-6.1.0-56-amd64
#   DEST     e.g. ~/.cache/klpack/e2e/kernels/6.1.0-56-amd64
#
# Nothing is installed system-wide: `apt-get download` + `dpkg-deb -x`.
# DEST/.klpack-complete marks a finished unpack; a second run does nothing.
set -eu

[ $# -eq 3 ] || { echo "usage: fetch-kernel.sh SUITE PACKAGE DEST" >&2; exit 2; }
suite=$1
pkg=$2
dest=$3

die() {
	echo "fetch-kernel: $*" >&2
	exit 1
}

if [ -f "$dest/.klpack-complete" ]; then
	exit 0
fi
for tool in apt-get dpkg-deb; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found (needs a Debian-like system)"
done

mkdir -p "$(dirname "$dest")"
parent=$(cd "$(dirname "$dest")" && pwd)
dest=$parent/$(basename "$dest")

# As root, apt downloads as the _apt user, which cannot write under /root.
SANDBOX=""
[ "$(id -u)" -eq 0 ] && SANDBOX="-oAPT::Sandbox::User=root"

set --
case $suite in
system)
	apt-cache show "$pkg" >/dev/null 2>&1 ||
		die "$pkg is unknown to apt; run 'apt-get update' (as root) first"
	;;
sid)
	. "$(dirname "$0")/sid-apt.sh"
	sid_apt_config "$parent/apt-sid"
	set -- $SID_APT_OPTS
	;;
*)
	die "unknown suite $suite (want system or sid)"
	;;
esac

debs=$dest.debs.$$
tmp=$dest.tmp.$$
trap 'rm -rf "$debs" "$tmp"' EXIT
rm -rf "$debs" "$tmp"
mkdir -p "$debs" "$tmp"
start=$(date +%s)
(cd "$debs" && apt-get $SANDBOX "$@" -q download "$pkg" >&2) || die "apt-get download $pkg failed"
deb=$(ls "$debs"/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "apt-get download $pkg produced no .deb"
dpkg-deb -x "$deb" "$tmp"
vmlinuz=$(cd "$tmp" && ls boot/vmlinuz-* usr/lib/modules/*/vmlinuz 2>/dev/null | head -n 1)
[ -n "$vmlinuz" ] || die "$pkg holds no boot/vmlinuz-* nor usr/lib/modules/*/vmlinuz"
ln -s "$vmlinuz" "$tmp/vmlinuz"
touch "$tmp/.klpack-complete"
rm -rf "$dest"
mv "$tmp" "$dest"
echo "fetch-kernel: $pkg in $dest ($(($(date +%s) - start))s)" >&2
