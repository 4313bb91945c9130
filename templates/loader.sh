#!/bin/sh
# klpack-load: makes the livepatches of this host's running kernel match
# the klpack patch packages installed for it: loads what is installed, in
# the recorded order, and unloads what this loader loaded whose package is
# gone. It never leaves a release half loaded: on a refused load or a
# transition that does not finish in time it undoes this run's loads,
# newest first, and exits non-zero.
#
#   klpack-load start          sync the kernel with the installed patches
#   klpack-load mark           note that packages changed (a package script)
#   klpack-load trigger        sync once if marked: the first call after a
#                              mark runs, the others of the transaction do not
#   klpack-load stop MODULE    disable MODULE's patch and unload it
#   klpack-load status         show what is packaged and what is loaded
#
# One package, klpack-loader-<kernel>, ships this file and its unit; the
# package managers run it once per transaction (dpkg: a file trigger on the
# patch directory; rpm: %posttrans through mark and trigger).
#
# POSIX sh; runs under busybox. Rendered by klpack for kernel {{.Kernel}}.
# The environment may move the trees it reads (tests do):
#   KLPACK_SYSFS (/sys), KLPACK_CMDLINE (/proc/cmdline),
#   KLPACK_LIBDIR ({{.LibDir}}), KLPACK_RUNDIR (/run),
#   KLPACK_TIMEOUT (seconds per transition, 1 to {{.MaxTimeout}}, default {{.Timeout}}),
#   KLPACK_BPFFS (/sys/fs/bpf/klpack/hooks, where hooks are pinned),
#   and KLPACK_INSMOD, KLPACK_RMMOD, KLPACK_UNAME, KLPACK_BIN (klpack) name
#   the commands: a busybox shell built standalone runs its own applets
#   before $PATH.
# Package managers may not pass the environment to their scripts: each of
# these variables the environment does not set is taken from
# KLPACK_DEFAULTS ({{.Defaults}}) when that file sets it, one KEY=VALUE a
# line, read as data, never run.

# -f: no expansion is globbed (the globs of packaged files turn it back
# on for one statement). Not -e: every failure is checked, and a rollback
# must go on past one.
set -fu

# defaults FILE: export each KLPACK_* variable FILE sets that is unset.
defaults() {
	[ -f "$1" ] || return 0
	while IFS= read -r d_line || [ -n "$d_line" ]; do
		d_key=${d_line%%=*}
		d_val=${d_line#*=}
		case $d_key in
		KLPACK_SYSFS | KLPACK_CMDLINE | KLPACK_LIBDIR | KLPACK_RUNDIR | KLPACK_TIMEOUT | KLPACK_BPFFS | KLPACK_INSMOD | KLPACK_RMMOD | KLPACK_UNAME | KLPACK_BIN) ;;
		*) continue ;;
		esac
		[ "$d_key" != "$d_line" ] || continue
		eval "d_set=\${$d_key+x}"
		[ -z "$d_set" ] || continue
		export "$d_key=$d_val"
	done <"$1"
}
defaults "${KLPACK_DEFAULTS:-{{.Defaults}}}"

KERNEL={{sh .Kernel}}
SYSFS=${KLPACK_SYSFS:-/sys}
CMDLINE=${KLPACK_CMDLINE:-/proc/cmdline}
DEFAULT_LIBDIR={{sh .LibDir}}
LIBDIR=${KLPACK_LIBDIR:-$DEFAULT_LIBDIR}
RUNDIR=${KLPACK_RUNDIR:-/run}
TIMEOUT=${KLPACK_TIMEOUT:-{{.Timeout}}}
INSMOD=${KLPACK_INSMOD:-insmod}
RMMOD=${KLPACK_RMMOD:-rmmod}
UNAME=${KLPACK_UNAME:-uname}
KLPACK=${KLPACK_BIN:-klpack}
LP=$SYSFS/kernel/livepatch
LOCK=$RUNDIR/klpack-load.lock
# PENDING is a directory: mkdir marks, and of the rmdirs after a mark
# exactly one succeeds. RECORD lists the modules this loader keeps
# loaded, in load order: what it may unload once their package is gone
# (patches it did not load are not its to remove).
PENDING=$RUNDIR/klpack-load.pending
RECORD=$RUNDIR/klpack-load.loaded
BPFFS_HOOKS=${KLPACK_BPFFS:-/sys/fs/bpf/klpack/hooks}

# done_list holds the modules this run loaded, newest first, one a line.
done_list=

say() { printf 'klpack-load: %s\n' "$*"; }
warn() { printf 'klpack-load: %s\n' "$*" >&2; }

# The tick arithmetic below multiplies TIMEOUT: a bound keeps it far from
# the shell's integer range (at most 4 digits first, so that [ never sees
# a number it cannot read).
case $TIMEOUT in
'' | *[!0-9]* | ?????*) TIMEOUT=0 ;;
esac
if [ "$TIMEOUT" -lt 1 ] || [ "$TIMEOUT" -gt {{.MaxTimeout}} ]; then
	warn "KLPACK_TIMEOUT must be a whole number of seconds from 1 to {{.MaxTimeout}}"
	exit 2
fi

# module_name NAME: 0 when NAME is a module name the kernel could give
# (letters, digits, _ and -): it becomes a path under sysfs.
module_name() {
	case $1 in
	'' | *[!A-Za-z0-9_-]*) return 1 ;;
	esac
	return 0
}

enabled_of() { cat "$LP/$1/enabled" 2>/dev/null || echo 0; }
transition_of() { cat "$LP/$1/transition" 2>/dev/null || echo 0; }

# wait_for MODULE CONDITION: 0 once CONDITION (a function of MODULE) holds,
# 1 when it does not within TIMEOUT seconds. Ticks of a tenth of a second
# when sleep takes fractions (GNU, busybox), else of a second.
wait_for() {
	if sleep 0.1 2>/dev/null; then w_step=0.1 w_ticks=$((TIMEOUT * 10)); else w_step=1 w_ticks=$TIMEOUT; fi
	while ! "$2" "$1"; do
		[ "$w_ticks" -gt 0 ] || return 1
		sleep "$w_step"
		w_ticks=$((w_ticks - 1))
	done
	return 0
}

# settled MODULE: its patch is enabled and out of transition.
settled() { [ -d "$LP/$1" ] && [ "$(enabled_of "$1")" = 1 ] && [ "$(transition_of "$1")" = 0 ]; }

# gone MODULE: its patch is disabled and freed (its directory removed).
gone() { ! [ -d "$LP/$1" ]; }

# unload MODULE: disable its patch, wait until the kernel has freed it,
# remove the module. A disable that stalls is reversed (the patch stays
# enabled) and reported.
unload() {
	u_m=$1
	if [ -d "$LP/$u_m" ]; then
		if ! echo 0 >"$LP/$u_m/enabled"; then
			warn "$u_m: cannot disable its patch"
			return 1
		fi
		if ! wait_for "$u_m" gone; then
			warn "$u_m: disabling did not finish within ${TIMEOUT}s; reversing it"
			echo 1 >"$LP/$u_m/enabled" 2>/dev/null
			return 1
		fi
	fi
	if [ -d "$SYSFS/module/$u_m" ] && ! "$RMMOD" "$u_m"; then
		warn "$u_m: rmmod failed"
		return 1
	fi
	return 0
}

# rollback undoes this run's loads, newest first.
rollback() {
	r_bad=0
	while IFS= read -r r_m; do
		[ -n "$r_m" ] || continue
		say "rolling back $r_m"
		unload "$r_m" </dev/null || r_bad=1
	done <<EOF
$done_list
EOF
	if [ "$r_bad" = 1 ]; then
		warn "rollback incomplete: check $LP by hand"
	fi
}

# has_hooks: 0 when a package of KERNEL carries a BPF hook object.
has_hooks() {
	set +f
	set -- "$LIBDIR/$KERNEL"/*/hooks/*.bpf.o
	set -f
	for h_f; do
		[ -f "$h_f" ] && return 0
	done
	return 1
}

# attach_hooks: "hooks attach" with every hook object, each one argument.
attach_hooks() {
	set +f
	set -- "$LIBDIR/$KERNEL"/*/hooks/*.bpf.o
	set -f
	hooks attach "$@"
}

# hooks ARGS...: run "klpack hooks ARGS" when the release carries hooks.
# An atomic replace leaves each kprobe on code that no longer runs, so
# after every load "hooks sync" probes the new patch's copies while its
# transition runs, and at the end "hooks attach" (re)loads the objects and
# "hooks sync --wait" drops the probes on replaced code. A hook that fails
# is reported (exit 1) but does not undo the patches.
hooks_failed=0
hooks() {
	has_hooks || return 0
	if ! command -v "$KLPACK" >/dev/null 2>&1; then
		warn "the release carries BPF hooks, but $KLPACK is not installed: hooks $1 not run"
		hooks_failed=1
		return 0
	fi
	h_sub=$1
	shift
	if out=$("$KLPACK" hooks "$h_sub" --bpffs "$BPFFS_HOOKS" "$@" 2>&1); then
		[ -n "$out" ] && printf '%s\n' "$out" | while IFS= read -r l; do say "hooks: $l"; done
	else
		printf '%s\n' "$out" | while IFS= read -r l; do warn "hooks: $l"; done
		hooks_failed=1
	fi
	return 0
}

# entries prints the packaged patches of KERNEL as "ORDER MODULE LAYER FILE",
# in load order.
entries() {
	set +f
	set -- "$LIBDIR/$KERNEL"/*/order
	set -f
	for e_f; do
		[ -f "$e_f" ] && cat "$e_f"
	done | sort -n -k1,1
}

lock() {
	mkdir -p "$RUNDIR" 2>/dev/null
	l_n=0
	while ! mkdir "$LOCK" 2>/dev/null; do
		l_n=$((l_n + 1))
		if [ "$l_n" -gt $((TIMEOUT + 30)) ]; then
			warn "another klpack-load holds $LOCK; giving up"
			exit 1
		fi
		sleep 1
	done
	trap 'rmdir "$LOCK" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM HUP
}

running_kernel_matches() {
	running=$("$UNAME" -r)
	if [ "$running" != "$KERNEL" ]; then
		say "running kernel $running, these patches are for $KERNEL: nothing to do"
		return 1
	fi
	return 0
}

# record_read prints the recorded modules, one a line, those with a
# name the kernel could give only.
record_read() {
	[ -f "$RECORD" ] || return 0
	while IFS= read -r r_m; do
		module_name "$r_m" && printf '%s\n' "$r_m"
	done <"$RECORD"
}

# record_write LINES: replace the record at once.
record_write() {
	printf '%s' "$1" >"$RECORD.new" && mv -f "$RECORD.new" "$RECORD"
}

# in_list NAME LINES: 0 when NAME is one of LINES.
in_list() {
	case "
$2
" in
	*"
$1
"*) return 0 ;;
	esac
	return 1
}

# freed MODULE: the module is loaded but its patch is gone: a replace
# patch freed it (a freed patch cannot be enabled again, and loading its
# module again fails with File exists until the module is removed).
freed() { [ -d "$SYSFS/module/$1" ] && ! [ -d "$LP/$1" ]; }

# load_all loads every installed patch in order; 1 after a rollback.
load_all() {
	while read -r order m layer file; do
		[ -n "$m" ] || continue
		if ! module_name "$m"; then
			warn "an order file names the module '$m': not loaded"
			rollback
			warn "failed: a bad order file; undid $loaded of $total patches"
			return 1
		fi
		if settled "$m"; then
			say "$m already loaded"
			continue
		fi
		if freed "$m"; then
			say "$m: a replace freed its patch; loading it again"
			if ! "$RMMOD" "$m"; then
				warn "$m: rmmod of the freed module failed"
				rollback
				warn "failed: $m could not be loaded again; undid $loaded of $total patches"
				return 1
			fi
		fi
		say "loading $m ($layer, order $order)"
		if ! out=$("$INSMOD" "$file" 2>&1); then
			warn "$m: the kernel refused it: $out"
			rollback
			warn "failed: $m was refused; undid $loaded of $total patches"
			return 1
		fi
		done_list="$m
$done_list"
		loaded=$((loaded + 1))
		[ -d "$BPFFS_HOOKS" ] && hooks sync
		if ! wait_for "$m" settled; then
			warn "$m: transition did not finish within ${TIMEOUT}s"
			rollback
			warn "failed: $m did not finish its transition; undid $loaded of $total patches"
			return 1
		fi
	done <<EOF
$list
EOF
	return 0
}

# unload_stale unloads, newest first, the recorded modules no installed
# package carries any more, and prints those it could not unload.
unload_stale() {
	u_rev=
	for u_m in $(record_read); do
		u_rev="$u_m $u_rev"
	done
	for u_m in $u_rev; do
		in_list "$u_m" "$names" && continue
		if ! [ -d "$LP/$u_m" ] && ! [ -d "$SYSFS/module/$u_m" ]; then
			continue
		fi
		say "unloading $u_m: its package is no longer installed" >&2
		unload "$u_m" </dev/null >&2 || printf '%s\n' "$u_m"
	done
}

start() {
	s_cmdline=$(cat "$CMDLINE" 2>/dev/null)
	case " $s_cmdline " in
	*[[:space:]]klpack.enable=0[[:space:]]*)
		say "klpack.enable=0 on the kernel command line: nothing loaded"
		return 0
		;;
	esac
	running_kernel_matches || return 0
	lock
	list=$(entries)
	names=$(printf '%s\n' "$list" | while read -r order m rest; do [ -n "$m" ] && printf '%s\n' "$m"; done)
	# Count the whole release first: a failure reports how much of it
	# this run had loaded and undid.
	total=0
	[ -n "$list" ] && total=$(printf '%s\n' "$list" | wc -l)
	total=$((total + 0))
	loaded=0
	# Load first, then unload: a new cumulative patch replaces the old
	# one before the old one's module goes, never leaving a gap unpatched.
	load_all || return 1
	stuck=$(unload_stale)
	keep=$names
	[ -n "$stuck" ] && keep="$names
$stuck"
	record_write "$keep
"
	if [ -n "$stuck" ]; then
		warn "failed: could not unload $(echo $stuck), whose package is gone: check $LP"
		return 1
	fi
	if [ "$total" = 0 ]; then
		say "no patches packaged for $KERNEL"
		return 0
	fi
	say "$total patches for $KERNEL in place ($loaded loaded now)"
	attach_hooks
	hooks sync --wait
	if [ "$hooks_failed" = 1 ]; then
		warn "the patches are in place, but their BPF hooks are not all attached"
		return 1
	fi
	return 0
}

# mark notes that packages changed; trigger runs start once per mark.
mark() {
	mkdir -p "$PENDING"
}

trigger() {
	if rmdir "$PENDING" 2>/dev/null; then
		start
		return
	fi
	return 0
}

stop() {
	if ! module_name "$1"; then
		warn "'$1' is not a module name"
		exit 2
	fi
	running_kernel_matches || return 0
	lock
	if ! [ -d "$LP/$1" ] && ! [ -d "$SYSFS/module/$1" ]; then
		say "$1 is not loaded"
		return 0
	fi
	say "unloading $1"
	unload "$1"
}

status() {
	say "kernel $KERNEL (running $("$UNAME" -r))"
	entries | while read -r order m layer file; do
		state="not loaded"
		if [ -d "$LP/$m" ]; then
			state="enabled=$(enabled_of "$m") transition=$(transition_of "$m")"
		fi
		echo "$order $m $layer: $state"
	done
}

case "${1:-}" in
start) start ;;
mark) mark ;;
trigger) trigger ;;
stop)
	if [ $# -ne 2 ]; then
		warn "usage: klpack-load stop MODULE"
		exit 2
	fi
	stop "$2"
	;;
status) status ;;
*)
	warn "usage: klpack-load start | mark | trigger | stop MODULE | status"
	exit 2
	;;
esac
