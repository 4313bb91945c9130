#!/bin/sh
# klpack-load: makes the livepatches of this host's running kernel match
# the klpack patch packages installed for it.
#
# When the host is in the state an installed release's plan was made for
# (its "start"), the loader executes the plan's kernel steps and after each
# compares sysfs with the state the simulator predicted. Otherwise (first
# boot, a host the plan was not made for) it syncs: loads what is
# installed, in the recorded order, and unloads what this loader loaded
# whose package is gone. It says which it does.
#
# Never half loaded, never unpatched: every successful run keeps a copy of
# each module of the release that runs, with its stack order, under
# KLPACK_STATEDIR; a refused load, a transition that does not finish in
# time, a divergence from the plan or SIGTERM restore that release (the
# loads of the run go, the kept release is loaded again from the copies).
# A journal in KLPACK_RUNDIR says a run is under way: the next run after a
# SIGKILL first finishes the restore, or keeps the new release when the
# kernel runs it whole. The last line names the release that runs.
#
# Packages pinned to a kernel build (a target file: the vmlinux build-id
# the release was made for) load nothing on another build of the same
# release: the running kernel's build-id is read from /sys/kernel/notes.
#
#   klpack-load start          run the plan, or sync with the installed patches
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
#   KLPACK_STATEDIR (/var/lib/klpack: <kernel>/running keeps what runs),
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
		KLPACK_SYSFS | KLPACK_CMDLINE | KLPACK_LIBDIR | KLPACK_RUNDIR | KLPACK_STATEDIR | KLPACK_TIMEOUT | KLPACK_BPFFS | KLPACK_INSMOD | KLPACK_RMMOD | KLPACK_UNAME | KLPACK_BIN) ;;
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
KLPACK=${KLPACK_BIN:-{{sh .Klpack}}}
LP=$SYSFS/kernel/livepatch
LOCK=$RUNDIR/klpack-load.lock
# PENDING is a directory: mkdir marks, and of the rmdirs after a mark
# exactly one succeeds. RECORD lists the modules this loader keeps
# loaded, in load order: what it may unload once their package is gone
# (patches it did not load are not its to remove).
PENDING=$RUNDIR/klpack-load.pending
RECORD=$RUNDIR/klpack-load.loaded
BPFFS_HOOKS=${KLPACK_BPFFS:-/sys/fs/bpf/klpack/hooks}
# RUNNING keeps the release that runs: "release VERSION", then a
# "module NAME LAYER FILE" line per patch in stack order, and a copy of
# each module file: the way back once the package manager has removed the
# packages. JOURNAL says a run is under way ("run PID", "plan VERSION
# FILE" or "sync", then "loaded NAME FILE" before each insmod).
STATEDIR=${KLPACK_STATEDIR:-/var/lib/klpack}
RUNNING=$STATEDIR/$KERNEL/running
JOURNAL=$RUNDIR/klpack-load.journal

# done_list holds the modules this run loaded, newest first, one a line;
# the P_ variables the plan plan_read read last.
done_list=
list=
names=
P_VERSION= P_NAMES= P_START_P= P_START_M= P_FINAL_P= P_FINAL_M= P_STEPS=0

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

# norm WORDS: the words sorted, one blank between them.
norm() {
	n_out=$(printf '%s\n' $1 | LC_ALL=C sort | tr '\n' ' ')
	n_out=${n_out# }
	printf '%s' "${n_out% }"
}

# state_patches: the livepatch directories as "NAME=ENABLED", sorted.
state_patches() {
	sp_out=
	set +f
	for sp_d in "$LP"/*; do
		[ -d "$sp_d" ] || continue
		sp_n=${sp_d##*/}
		sp_out="$sp_out $sp_n=$(enabled_of "$sp_n")"
	done
	set -f
	norm "$sp_out"
}

# state_modules NAMES: those of NAMES that are loaded modules, sorted.
state_modules() {
	sm_out=
	for sm_m in $1; do
		[ -d "$SYSFS/module/$sm_m" ] && sm_out="$sm_out $sm_m"
	done
	norm "$sm_out"
}

# state_is PATCHES MODULES NAMES: 0 when sysfs shows exactly PATCHES
# ("NAME=ENABLED" words) and, of NAMES, exactly MODULES loaded.
state_is() {
	[ "$(state_patches)" = "$(norm "$1")" ] && [ "$(state_modules "$3")" = "$(norm "$2")" ]
}

# wait_state PATCHES MODULES NAMES: 0 once state_is holds, 1 when it does
# not within TIMEOUT: the kernel frees the patches a replace removed
# after the transition, asynchronously.
wait_state() {
	if sleep 0.1 2>/dev/null; then w_step=0.1 w_ticks=$((TIMEOUT * 10)); else w_step=1 w_ticks=$TIMEOUT; fi
	while ! state_is "$1" "$2" "$3"; do
		[ "$w_ticks" -gt 0 ] || return 1
		sleep "$w_step"
		w_ticks=$((w_ticks - 1))
	done
	return 0
}

# words_ok WORDS: every word a module name. pairs_ok: every word
# NAME=0 or NAME=1.
words_ok() {
	for wo_w in $1; do
		module_name "$wo_w" || return 1
	done
	return 0
}
pairs_ok() {
	for po_w in $1; do
		case $po_w in
		*=0 | *=1) module_name "${po_w%=?}" || return 1 ;;
		*) return 1 ;;
		esac
	done
	return 0
}

# plan_read FILE: 0 when FILE is a plan this loader reads (klpack-plan 1,
# PlanFile in pkg/pack); sets P_VERSION, P_NAMES, P_START_P, P_START_M,
# P_FINAL_P, P_FINAL_M (the state after the last step) and P_STEPS.
plan_read() {
	[ -f "$1" ] || return 1
	pr_state=head
	pr_g=0
	P_STEPS=0
	while IFS= read -r pr_line || [ -n "$pr_line" ]; do
		pr_kw=${pr_line%% *}
		pr_rest=${pr_line#"$pr_kw"}
		pr_rest=${pr_rest# }
		case $pr_state:$pr_kw in
		head:klpack-plan)
			[ "$pr_rest" = 1 ] || return 1
			pr_state=release
			;;
		release:release)
			case $pr_rest in
			[0-9]*) ;;
			*) return 1 ;;
			esac
			case $pr_rest in
			*[!A-Za-z0-9.+~_-]*) return 1 ;;
			esac
			P_VERSION=$pr_rest
			pr_state=names
			;;
		names:names)
			words_ok "$pr_rest" || return 1
			P_NAMES=$pr_rest
			pr_state=action
			;;
		action:start)
			[ "$pr_g" = 0 ] || return 1
			pr_state=patches
			;;
		action:load | action:unload | action:disable)
			[ "$pr_g" -gt 0 ] || return 1
			pr_name=${pr_rest%% *}
			module_name "$pr_name" || return 1
			pr_file=${pr_rest#"$pr_name"}
			case $pr_kw:$pr_file in
			*:) ;;
			load:" /"*) ;;
			*) return 1 ;;
			esac
			P_STEPS=$((P_STEPS + 1))
			pr_state=patches
			;;
		action:end)
			[ "$pr_g" -gt 0 ] || return 1
			pr_state=end
			;;
		patches:patches)
			pairs_ok "$pr_rest" || return 1
			pr_p=$pr_rest
			pr_state=modules
			;;
		modules:modules)
			words_ok "$pr_rest" || return 1
			if [ "$pr_g" = 0 ]; then
				P_START_P=$pr_p P_START_M=$pr_rest
			fi
			P_FINAL_P=$pr_p P_FINAL_M=$pr_rest
			pr_g=$((pr_g + 1))
			pr_state=action
			;;
		*) return 1 ;;
		esac
	done <"$1"
	[ "$pr_state" = end ]
}

# plans prints the installed plan files, one a line.
plans() {
	set +f
	for pl_f in "$LIBDIR/$KERNEL"/*/plan; do
		[ -f "$pl_f" ] && printf '%s\n' "$pl_f"
	done
	set -f
}

# load_file NAME [FILE]: the file to load NAME from: FILE when given,
# else the one an installed order file names.
load_file() {
	if [ -n "${2:-}" ]; then
		printf '%s\n' "$2"
		return
	fi
	printf '%s\n' "$list" | while read -r lf_o lf_m lf_l lf_f; do
		if [ "$lf_m" = "$1" ]; then
			printf '%s\n' "$lf_f"
			break
		fi
	done
}

# layer_of NAME: the layer an order file or the kept release gives it.
layer_of() {
	lo_l=$(printf '%s\n' "$list" | while read -r lo_o lo_m lo_l lo_f; do
		[ "$lo_m" = "$1" ] && printf '%s\n' "$lo_l" && break
	done)
	if [ -z "$lo_l" ] && [ -f "$RUNNING/release" ]; then
		lo_l=$(while read -r lo_k lo_m lo_l lo_f; do
			[ "$lo_k" = module ] && [ "$lo_m" = "$1" ] && printf '%s\n' "$lo_l" && break
		done <"$RUNNING/release")
	fi
	printf '%s\n' "${lo_l:-unknown}"
}

# plan_loads_present FILE: 0 when every module the plan loads has a file.
plan_loads_present() {
	while read -r pp_kw pp_name pp_file; do
		[ "$pp_kw" = load ] || continue
		pp_f=$(load_file "$pp_name" "$pp_file")
		if ! [ -f "$pp_f" ]; then
			say "plan of release $P_VERSION: no file to load $pp_name from"
			return 1
		fi
	done <"$1"
	return 0
}

# plan_for_host prints the installed plan this host is in the start
# state of, whose every load has its file.
plan_for_host() {
	for pf_f in $(plans); do
		plan_read "$pf_f" || continue
		state_is "$P_START_P" "$P_START_M" "$P_NAMES" || continue
		plan_loads_present "$pf_f" >&2 || continue
		printf '%s\n' "$pf_f"
		return 0
	done
	return 1
}

# release_now prints the version of an installed plan whose last state
# the kernel shows, or "unplanned".
release_now() {
	for rn_f in $(plans); do
		plan_read "$rn_f" || continue
		if state_is "$P_FINAL_P" "$P_FINAL_M" "$P_NAMES"; then
			printf '%s\n' "$P_VERSION"
			return
		fi
	done
	printf 'unplanned\n'
}

journal_start() { printf 'run %s\n%s\n' "$$" "$1" >"$JOURNAL"; }
journal() { printf '%s\n' "$1" >>"$JOURNAL"; }

# journal_loaded prints the modules the journal's run loaded, in order.
journal_loaded() {
	[ -f "$JOURNAL" ] || return 0
	while read -r jl_k jl_m jl_f; do
		[ "$jl_k" = loaded ] && module_name "$jl_m" && printf '%s\n' "$jl_m"
	done <"$JOURNAL"
}

# kept_names prints the modules of the kept release, in stack order.
kept_names() {
	[ -f "$RUNNING/release" ] || return 0
	while read -r kn_k kn_m kn_rest; do
		[ "$kn_k" = module ] && module_name "$kn_m" && printf '%s\n' "$kn_m"
	done <"$RUNNING/release"
}

kept_version() {
	kv_v=
	[ -f "$RUNNING/release" ] && read -r kv_k kv_v <"$RUNNING/release"
	printf '%s\n' "${kv_v:-none}"
}

# module_file NAME: the file the module that runs was loaded from: the
# one this run's journal names, else the kept copy, else the installed.
module_file() {
	mf_f=
	if [ -f "$JOURNAL" ]; then
		while read -r mf_k mf_m mf_x; do
			[ "$mf_k" = loaded ] && [ "$mf_m" = "$1" ] && mf_f=$mf_x
		done <"$JOURNAL"
	fi
	if [ -z "$mf_f" ] && [ -f "$RUNNING/release" ]; then
		while read -r mf_k mf_m mf_l mf_x; do
			[ "$mf_k" = module ] && [ "$mf_m" = "$1" ] && mf_f=$RUNNING/$mf_x
		done <"$RUNNING/release"
	fi
	[ -n "$mf_f" ] || mf_f=$(load_file "$1")
	printf '%s\n' "$mf_f"
}

# keep VERSION NAMES: keep NAMES (stack order) as the release that runs:
# a copy of each module file beside the list, swapped in at once.
keep() {
	k_new=$RUNNING.new
	mkdir -p "$STATEDIR/$KERNEL" && rm -rf "$k_new" && mkdir "$k_new" || {
		warn "cannot keep the release that runs in $RUNNING"
		return 1
	}
	printf 'release %s\n' "$1" >"$k_new/release"
	for k_m in $2; do
		k_src=$(module_file "$k_m")
		case $k_src in
		*.ko.xz) k_sfx=.ko.xz ;;
		*.ko.zst) k_sfx=.ko.zst ;;
		*.ko.gz) k_sfx=.ko.gz ;;
		*) k_sfx=.ko ;;
		esac
		if ! cp -f "$k_src" "$k_new/$k_m$k_sfx"; then
			warn "$k_m: cannot keep a copy of $k_src: the way back to this release is lost"
			rm -rf "$k_new"
			return 1
		fi
		printf 'module %s %s %s\n' "$k_m" "$(layer_of "$k_m")" "$k_m$k_sfx" >>"$k_new/release"
	done
	if [ -d "$RUNNING" ]; then
		rm -rf "$RUNNING.old"
		mv "$RUNNING" "$RUNNING.old" || return 1
	fi
	mv "$k_new" "$RUNNING" && rm -rf "$RUNNING.old"
	record_write "$(printf '%s\n' $2)
"
}

# transitions_over: no patch is in transition.
transitions_over() {
	set +f
	for to_d in "$LP"/*; do
		if [ "$(cat "$to_d/transition" 2>/dev/null)" = 1 ]; then
			set -f
			return 1
		fi
	done
	set -f
	return 0
}

# reverse_transitions reverses every pending transition (an enable
# becomes a disable, a disable an enable) and waits for them to end.
reverse_transitions() {
	set +f
	for rt_d in "$LP"/*; do
		[ "$(cat "$rt_d/transition" 2>/dev/null)" = 1 ] || continue
		rt_m=${rt_d##*/}
		if [ "$(enabled_of "$rt_m")" = 1 ]; then
			say "reversing the transition of $rt_m"
			echo 0 >"$rt_d/enabled"
		else
			say "reversing the disable of $rt_m"
			echo 1 >"$rt_d/enabled"
		fi
	done
	set -f
	wait_for - transitions_over || return 1
	return 0
}

# roll_back_loads unloads the modules this run loaded (rs_loaded) that
# the kept release does not name, newest first.
roll_back_loads() {
	rb_rev=
	for rb_m in $rs_loaded; do
		rb_rev="$rb_m $rb_rev"
	done
	rb_bad=0
	for rb_m in $rb_rev; do
		in_list "$rb_m" "$rs_kept" && continue
		in_list "$rb_m" "$rs_done" && continue
		rs_done="$rb_m
${rs_done:-}"
		[ -d "$LP/$rb_m" ] || [ -d "$SYSFS/module/$rb_m" ] || continue
		say "rolling back $rb_m"
		unload "$rb_m" </dev/null || rb_bad=1
	done
	return $rb_bad
}

# restore brings back the kept release: every pending transition
# reversed; each kept module, in stack order, left alone when its patch
# runs (and this run did not load its name), else loaded again from its
# copy (a replace among them takes this run's patches off the stack);
# then this run's other modules unloaded, newest first. When the kernel
# refuses a kept module over this run's patches (a klp_state version it
# cannot take back, which klpack release said before shipping), this
# run's patches go first and the load is tried once more: their
# functions run unpatched meanwhile, the only way back the kernel leaves.
# It stops short of unloading anything else when a kept module cannot be
# loaded: the kernel then keeps what it runs rather than run nothing.
restore() {
	trap '' INT TERM HUP
	rs_ver=$(kept_version)
	rs_loaded=$(journal_loaded)
	rs_kept=$(kept_names)
	say "restoring release $rs_ver"
	rs_bad=0
	rs_retried=
	reverse_transitions || {
		warn "a transition did not end within ${TIMEOUT}s"
		rs_bad=1
	}
	if [ "$rs_bad" = 0 ] && [ -f "$RUNNING/release" ]; then
		while read -r rs_k rs_m rs_l rs_f; do
			[ "$rs_k" = module ] && module_name "$rs_m" || continue
			if in_list "$rs_m" "$rs_loaded"; then
				unload "$rs_m" </dev/null || {
					rs_bad=1
					break
				}
			elif settled "$rs_m"; then
				continue
			fi
			if [ -d "$SYSFS/module/$rs_m" ] && ! [ -d "$LP/$rs_m" ]; then
				"$RMMOD" "$rs_m" </dev/null || {
					warn "$rs_m: rmmod of the freed module failed"
					rs_bad=1
					break
				}
			fi
			say "loading $rs_m again from $RUNNING"
			if ! rs_out=$("$INSMOD" "$RUNNING/$rs_f" 2>&1 </dev/null); then
				warn "$rs_m: the kernel refused it: $rs_out"
				if [ -n "$rs_retried" ]; then
					rs_bad=1
					break
				fi
				rs_retried=1
				say "unloading this run's patches first: their functions run unpatched until $rs_m loads"
				if ! roll_back_loads || ! rs_out=$("$INSMOD" "$RUNNING/$rs_f" 2>&1 </dev/null); then
					warn "$rs_m: the kernel refused it again: $rs_out"
					rs_bad=1
					break
				fi
			fi
			wait_for "$rs_m" settled || {
				warn "$rs_m: transition did not finish within ${TIMEOUT}s"
				rs_bad=1
				break
			}
		done <"$RUNNING/release"
	fi
	if [ "$rs_bad" = 0 ]; then
		roll_back_loads || rs_bad=1
	fi
	rs_done=
	rs_retried=
	[ -n "$rs_why" ] && warn "failed: $rs_why"
	rs_why=
	if [ "$rs_bad" = 1 ]; then
		warn "restore incomplete: the kernel runs $(state_patches); check $LP"
		return 1
	fi
	rm -f "$JOURNAL"
	record_write "$rs_kept
"
	if [ -z "$rs_kept" ]; then
		say "restored release $rs_ver: no patch ran before, none runs"
	else
		say "restored release $rs_ver:" $rs_kept "run"
	fi
	return 0
}
rs_done=

# recover finishes the run a journal says was under way (its loader was
# killed): keeps the new release when the kernel runs its plan's last
# state whole, else restores the kept one.
recover() {
	[ -f "$JOURNAL" ] || return 0
	rc_pid=
	rc_plan=
	while read -r rc_k rc_a rc_b; do
		case $rc_k in
		run) rc_pid=$rc_a ;;
		plan) rc_plan=$rc_b ;;
		esac
	done <"$JOURNAL"
	say "a run (pid ${rc_pid:-unknown}) was interrupted"
	if [ -n "$rc_plan" ] && plan_read "$rc_plan" && transitions_over && state_is "$P_FINAL_P" "$P_FINAL_M" "$P_NAMES"; then
		rc_run=$(final_stack)
		if keep "$P_VERSION" "$rc_run"; then
			rm -f "$JOURNAL"
			say "release $P_VERSION is whole:" $rc_run "run"
			return 0
		fi
	fi
	restore
}

# final_stack prints the patches of the plan's last state that run, in
# stack order.
final_stack() {
	for fs_w in $P_FINAL_P; do
		case $fs_w in
		*=1) printf '%s\n' "${fs_w%=1}" ;;
		esac
	done
}

# plan_step ACTION NAME FILE performs one step of a plan and waits for
# the kernel: a load until its transition is over, a disable until the
# patch is gone.
plan_step() {
	case $1 in
	load)
		ps_f=$(load_file "$2" "$3")
		journal "loaded $2 $ps_f"
		if ! ps_out=$("$INSMOD" "$ps_f" 2>&1 </dev/null); then
			warn "$2: the kernel refused it: $ps_out"
			return 1
		fi
		[ -d "$BPFFS_HOOKS" ] && hooks sync
		if ! wait_for "$2" transition_done; then
			warn "$2: transition did not finish within ${TIMEOUT}s"
			return 1
		fi
		;;
	disable)
		if ! echo 0 >"$LP/$2/enabled"; then
			warn "$2: cannot disable its patch"
			return 1
		fi
		if ! wait_for "$2" gone; then
			warn "$2: disabling did not finish within ${TIMEOUT}s"
			return 1
		fi
		;;
	unload)
		if ! "$RMMOD" "$2" </dev/null; then
			warn "$2: rmmod failed"
			return 1
		fi
		;;
	esac
	return 0
}

# transition_done MODULE: its patch is out of transition, or gone.
transition_done() { [ "$(transition_of "$1")" = 0 ]; }

# plan_run FILE executes the plan (plan_read has read it): each step,
# then sysfs compared with the state predicted after it.
plan_run() {
	journal_start "plan $P_VERSION $1"
	pr_n=0
	while IFS= read -r pr_line; do
		pr_kw=${pr_line%% *}
		pr_rest=${pr_line#"$pr_kw"}
		pr_rest=${pr_rest# }
		case $pr_kw in
		load | unload | disable)
			pr_n=$((pr_n + 1))
			pr_name=${pr_rest%% *}
			pr_file=${pr_rest#"$pr_name"}
			pr_cur="$pr_kw $pr_name"
			say "step $pr_n of $P_STEPS: $pr_cur"
			plan_step "$pr_kw" "$pr_name" "${pr_file# }" </dev/null || return 1
			;;
		patches) pr_p=$pr_rest ;;
		modules)
			[ "$pr_n" -gt 0 ] || continue
			if ! wait_state "$pr_p" "$pr_rest" "$P_NAMES"; then
				warn "step $pr_n ($pr_cur): sysfs shows patches [$(state_patches)] modules [$(state_modules "$P_NAMES")], the plan expects patches [$(norm "$pr_p")] modules [$(norm "$pr_rest")]"
				return 1
			fi
			;;
		esac
	done <"$1"
	return 0
}

# fail REASON restores the release that ran before and says why the run
# stopped (after the restore's steps, before the line naming the release
# that runs); 1.
fail() {
	rs_why=$1
	restore
	return 1
}
rs_why=

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

# proc_start PID: the start time of process PID (field 22 of its stat,
# counted after the command name, which may hold blanks and parentheses).
proc_start() {
	ps_s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	ps_s=${ps_s##*) }
	set -- $ps_s
	[ $# -ge 20 ] || return 1
	eval "printf '%s\n' \"\${20}\""
}

# lock_stale OWNER: 0 when the lock's owner ("PID START") is gone: no such
# process, or another process that reuses its pid.
lock_stale() {
	ls_pid=${1%% *}
	ls_start=${1#* }
	case $ls_pid in
	'' | *[!0-9]*) return 1 ;;
	esac
	kill -0 "$ls_pid" 2>/dev/null || return 0
	[ "$(proc_start "$ls_pid")" = "$ls_start" ] && return 1
	return 0
}

# lock takes LOCK, a directory holding its owner ("PID START"). A lock
# whose owner is gone (a loader killed with SIGKILL) is taken over; one
# without an owner (killed between mkdir and writing it) once it has had
# no owner for two seconds.
lock() {
	mkdir -p "$RUNDIR" 2>/dev/null
	l_n=0
	l_none=0
	while ! mkdir "$LOCK" 2>/dev/null; do
		l_owner=$(cat "$LOCK/owner" 2>/dev/null)
		if [ -z "$l_owner" ]; then
			l_none=$((l_none + 1))
		else
			l_none=0
		fi
		if { [ -n "$l_owner" ] && lock_stale "$l_owner"; } || [ "$l_none" -gt 2 ]; then
			say "taking over the lock of klpack-load ${l_owner%% *}, which is gone"
			rm -f "$LOCK/owner"
			rmdir "$LOCK" 2>/dev/null
			l_none=0
			continue
		fi
		l_n=$((l_n + 1))
		if [ "$l_n" -gt $((TIMEOUT + 30)) ]; then
			warn "another klpack-load (${l_owner%% *}) holds $LOCK; giving up"
			exit 1
		fi
		sleep 1
	done
	printf '%s %s\n' "$$" "$(proc_start $$)" >"$LOCK/owner"
	trap 'rm -f "$LOCK/owner"; rmdir "$LOCK" 2>/dev/null' EXIT
	trap 'on_signal' INT TERM HUP
}

# on_signal: systemd's stop timeout (SIGTERM) or an interrupt during a run
# restores the release that ran before, then exits.
on_signal() {
	trap '' INT TERM HUP
	warn "stopped by a signal"
	if [ -f "$JOURNAL" ]; then
		restore
	fi
	exit 1
}

running_kernel_matches() {
	running=$("$UNAME" -r)
	if [ "$running" != "$KERNEL" ]; then
		say "running kernel $running, these patches are for $KERNEL: nothing to do"
		return 1
	fi
	return 0
}

# build_id_of FILE: the build-id of the first NT_GNU_BUILD_ID note in
# FILE, a raw stream of ELF notes (/sys/kernel/notes holds the running
# kernel's), in lowercase hex; 1 when it has none or is malformed. The
# words are little-endian, as on every architecture klpack packages for.
# At most 64 KiB is read: the kernel's notes take a few hundred bytes.
build_id_of() {
	bi_hex=$(head -c 65536 "$1" 2>/dev/null | od -An -v -tx1 2>/dev/null)
	[ -n "$bi_hex" ] || return 1
	set -- $bi_hex
	while [ $# -ge 12 ]; do
		case "$1$2$3$4$5$6$7$8$9${10}${11}${12}" in
		*[!0-9a-f]*) return 1 ;;
		esac
		# Sizes beyond 64 KiB cannot be in the stream: checked on the
		# high bytes before any arithmetic.
		[ "$3$4$7$8" = 00000000 ] || return 1
		bi_nsz=$((0x$2$1)) bi_dsz=$((0x$6$5)) bi_type=$((0x${12}${11}${10}$9))
		shift 12
		bi_npad=$(((bi_nsz + 3) / 4 * 4))
		bi_dpad=$(((bi_dsz + 3) / 4 * 4))
		[ $# -ge $((bi_npad + bi_dpad)) ] || return 1
		bi_name=
		[ "$bi_nsz" = 4 ] && bi_name=$1$2$3$4
		shift $bi_npad
		if [ "$bi_type" = 3 ] && [ "$bi_name" = 474e5500 ] && [ "$bi_dsz" -gt 0 ]; then
			bi_id=
			while [ "$bi_dsz" -gt 0 ]; do
				bi_id=$bi_id$1
				shift
				bi_dsz=$((bi_dsz - 1))
			done
			printf '%s\n' "$bi_id"
			return 0
		fi
		shift $bi_dpad
	done
	return 1
}

# pinned_builds prints the kernel build-ids the installed packages of
# KERNEL pin (their target files: "klpack-target 1", "build-id HEX"),
# sorted, one a line; 1 when a target file is not one this loader reads.
pinned_builds() {
	pb_out=
	set +f
	set -- "$LIBDIR/$KERNEL"/*/target
	set -f
	for pb_f; do
		[ -f "$pb_f" ] || continue
		pb_state=head
		while IFS= read -r pb_line || [ -n "$pb_line" ]; do
			case $pb_state:$pb_line in
			"head:klpack-target 1") pb_state=id ;;
			"id:build-id "*)
				pb_id=${pb_line#build-id }
				case $pb_id in
				'' | *[!0-9a-f]*) return 1 ;;
				esac
				pb_out="$pb_out $pb_id"
				pb_state=end
				;;
			*) return 1 ;;
			esac
		done <"$pb_f"
		[ "$pb_state" = end ] || return 1
	done
	[ -n "$pb_out" ] && printf '%s\n' $pb_out | LC_ALL=C sort -u
	return 0
}

# build_matches: 0 when the installed packages pin no kernel build, or
# the running kernel is the build they pin. A kernel built again under
# the same release string is another target: the loader loads nothing
# on it, and says which builds differ.
build_matches() {
	if ! bm_pins=$(pinned_builds); then
		warn "an installed target file of $KERNEL is not one this loader reads: nothing loaded"
		return 1
	fi
	[ -n "$bm_pins" ] || return 0
	if ! bm_run=$(build_id_of "$SYSFS/kernel/notes"); then
		warn "cannot read the running kernel's build-id from $SYSFS/kernel/notes; the patches for $KERNEL are pinned to build" $bm_pins": nothing loaded"
		return 1
	fi
	for bm_p in $bm_pins; do
		if [ "$bm_p" != "$bm_run" ]; then
			warn "running kernel $KERNEL is build $bm_run, the installed patches are pinned to build" $bm_pins": another build of the same release; nothing loaded"
			return 1
		fi
	done
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

# load_all loads every installed patch in order; 1 after a restore.
load_all() {
	while read -r order m layer file; do
		[ -n "$m" ] || continue
		if ! module_name "$m"; then
			warn "an order file names the module '$m': not loaded"
			fail "a bad order file; undid $loaded of $total patches"
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
				fail "$m could not be loaded again; undid $loaded of $total patches"
				return 1
			fi
		fi
		say "loading $m ($layer, order $order)"
		journal "loaded $m $file"
		if ! out=$("$INSMOD" "$file" 2>&1 </dev/null); then
			warn "$m: the kernel refused it: $out"
			fail "$m was refused; undid $loaded of $total patches"
			return 1
		fi
		done_list="$m
$done_list"
		loaded=$((loaded + 1))
		[ -d "$BPFFS_HOOKS" ] && hooks sync
		if ! wait_for "$m" settled; then
			warn "$m: transition did not finish within ${TIMEOUT}s"
			fail "$m did not finish its transition; undid $loaded of $total patches"
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

# finish attaches the release's hooks; 1 when they are not all attached.
finish() {
	[ -n "$list" ] || return 0
	attach_hooks
	hooks sync --wait
	if [ "$hooks_failed" = 1 ]; then
		warn "the patches are in place, but their BPF hooks are not all attached"
		return 1
	fi
	return 0
}

# run_plan FILE executes the plan this host is in the start state of.
run_plan() {
	plan_read "$1"
	say "the kernel runs the state the plan of release $P_VERSION starts from: executing its $P_STEPS steps"
	if ! plan_run "$1"; then
		fail "the kernel did not follow the plan of release $P_VERSION"
		return 1
	fi
	rp_run=$(final_stack)
	rp_rc=0
	keep "$P_VERSION" "$rp_run" || rp_rc=1
	rm -f "$JOURNAL"
	for rp_m in $names; do
		settled "$rp_m" || warn "$rp_m is installed, but the plan of release $P_VERSION does not run it"
	done
	finish || rp_rc=1
	say "release $P_VERSION runs:" $rp_run
	return $rp_rc
}

# sync_installed loads what is installed and unloads what this loader
# loaded whose package is gone.
sync_installed() {
	# Count the whole release first: the summary says how much of it
	# this run loaded.
	total=0
	[ -n "$list" ] && total=$(printf '%s\n' "$list" | wc -l)
	total=$((total + 0))
	loaded=0
	journal_start sync
	# Load first, then unload: a new cumulative patch replaces the old
	# one before the old one's module goes, never leaving a gap unpatched.
	load_all || return 1
	stuck=$(unload_stale)
	sy_run=
	for sy_m in $names; do
		settled "$sy_m" && sy_run="$sy_run $sy_m"
	done
	sy_ver=none
	[ -n "$sy_run" ] && sy_ver=$(release_now)
	sy_rc=0
	keep "$sy_ver" "$sy_run" || sy_rc=1
	rm -f "$JOURNAL"
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
		say "no patches packaged for $KERNEL: none runs"
		return $sy_rc
	fi
	say "$total patches for $KERNEL in place ($loaded loaded now)"
	finish || sy_rc=1
	if [ "$sy_ver" = unplanned ]; then
		say "no installed plan ends in this state:" $sy_run "run"
	else
		say "release $sy_ver runs:" $sy_run
	fi
	return $sy_rc
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
	build_matches || return 1
	lock
	# A run killed while it swapped the kept release in.
	if ! [ -d "$RUNNING" ] && [ -d "$RUNNING.old" ]; then
		mv "$RUNNING.old" "$RUNNING"
	fi
	list=$(entries)
	names=$(printf '%s\n' "$list" | while read -r order m rest; do [ -n "$m" ] && printf '%s\n' "$m"; done)
	recover || return 1
	if s_plan=$(plan_for_host); then
		run_plan "$s_plan"
		return
	fi
	if [ -n "$(plans)" ]; then
		say "the kernel does not run the state an installed plan starts from: syncing with the installed packages"
	else
		say "no installed plan: syncing with the installed packages"
	fi
	sync_installed
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
	say "kept as running: release $(kept_version):" $(kept_names)
	if st_pins=$(pinned_builds) && [ -n "$st_pins" ]; then
		st_run=$(build_id_of "$SYSFS/kernel/notes") || st_run=unknown
		say "pinned to kernel build" $st_pins"; running build $st_run"
	fi
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
