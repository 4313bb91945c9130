# sid-apt.sh: sourced by the e2e scripts. sid_apt_config DIR sets
# SID_APT_OPTS to apt options that use a private configuration in DIR
# (sources, lists, status, cache) for Debian sid, and updates its lists once
# a day. The machine's own apt sources are never touched. DIR must not hold
# spaces. sid_unpack DEST PKG... downloads packages with that
# configuration and unpacks them all into DEST (once: DEST/.klpack-complete).

SID_SYSTEM_SOURCES=/etc/apt/sources.list.d/debian.sources
SID_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

sid_apt_config() {
	sid_dir=$1
	[ -r "$SID_SYSTEM_SOURCES" ] || {
		echo "sid-apt: $SID_SYSTEM_SOURCES not readable: cannot find the Debian archive URI" >&2
		return 1
	}
	# The first URI of the system's sources that is not the security archive.
	sid_archive=$(awk '
		/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }
	' "$SID_SYSTEM_SOURCES")
	[ -n "$sid_archive" ] || {
		echo "sid-apt: no archive URI in $SID_SYSTEM_SOURCES" >&2
		return 1
	}
	mkdir -p "$sid_dir/etc" "$sid_dir/state/lists/partial" "$sid_dir/cache/archives/partial"
	sid_signed=""
	[ -r "$SID_KEYRING" ] && sid_signed=" [signed-by=$SID_KEYRING]"
	echo "deb$sid_signed $sid_archive sid main" >"$sid_dir/etc/sources.list"
	[ -f "$sid_dir/state/status" ] || : >"$sid_dir/state/status"
	SID_APT_OPTS="-o Dir::State=$sid_dir/state
		-o Dir::State::Lists=$sid_dir/state/lists
		-o Dir::State::status=$sid_dir/state/status
		-o Dir::Etc::SourceList=$sid_dir/etc/sources.list
		-o Dir::Etc::SourceParts=/dev/null
		-o Dir::Etc::Preferences=/dev/null
		-o Dir::Etc::PreferencesParts=/dev/null
		-o Dir::Cache=$sid_dir/cache
		-o Dir::Cache::pkgcache=
		-o Dir::Cache::srcpkgcache=
		-o APT::Get::List-Cleanup=false
		-o Acquire::Languages=none"
	sid_sandbox=""
	[ "$(id -u)" -eq 0 ] && sid_sandbox="-oAPT::Sandbox::User=root"
	if [ -z "$(find "$sid_dir/state/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null)" ]; then
		# shellcheck disable=SC2086 # the options are split on purpose
		apt-get $sid_sandbox $SID_APT_OPTS -qq update >&2 || {
			echo "sid-apt: apt-get update of the private sid configuration failed" >&2
			return 1
		}
	fi
}

sid_unpack() {
	sid_dest=$1
	shift
	[ -f "$sid_dest/.klpack-complete" ] && return 0
	sid_tmp=$sid_dest.tmp.$$
	rm -rf "$sid_tmp" "$sid_tmp.debs"
	mkdir -p "$sid_tmp" "$sid_tmp.debs"
	sid_sandbox=""
	[ "$(id -u)" -eq 0 ] && sid_sandbox="-oAPT::Sandbox::User=root"
	# shellcheck disable=SC2086 # the options are split on purpose
	(cd "$sid_tmp.debs" && apt-get $sid_sandbox $SID_APT_OPTS -q download "$@" >&2) || {
		echo "sid-apt: apt-get download $* failed" >&2
		rm -rf "$sid_tmp" "$sid_tmp.debs"
		return 1
	}
	for sid_deb in "$sid_tmp.debs"/*.deb; do
		dpkg-deb -x "$sid_deb" "$sid_tmp"
	done
	rm -rf "$sid_tmp.debs"
	touch "$sid_tmp/.klpack-complete"
	rm -rf "$sid_dest"
	mv "$sid_tmp" "$sid_dest"
}
