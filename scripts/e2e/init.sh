#!/bin/busybox sh
# init.sh: /init of the klpack e2e guest (busybox sh). It runs the
# scenarios named on the kernel command line as klpe.scenarios=A,B,C, one
# after the other in one boot, each from /e2e/NAME.steps: one step per
# line, "load FILE", "enable PATCH", "disable PATCH", "unload MODULE",
# "force PATCH", "hold MODULE", "wake MODULE", "fail MODULE", "sysctl
# KEY=VALUE" or "trace FUNCTION"; FILE is in /lib/modules/e2e, and module
# parameters may follow it. fail writes -19 to the module's pre_patch_ret
# (its callbacks' pre_patch fails); trace turns the function tracer on for
# one function. hold and wake write 1 and 0 to the module's "hold"
# parameter (e2e_hold: a kernel thread sleeps in a function until woken);
# while one is held, a step waits for transitions only a few seconds, as
# the scenario may expect one to stay pending. Between two scenarios it resets the kernel:
# every patch disabled, every module of /lib/modules/e2e unloaded; a
# scenario after a reset that fails is not run (the host boots again for
# it).
#
# Everything the host reads is one line on the console starting "KLPE ":
#   KLPE begin SCENARIO RELEASE          a scenario begins
#   KLPE step N KIND ARG                 step N (1-based; step 0 is the state
#                                        before the first step) begins
#   KLPE rc N CODE                       the command's exit status
#                                        (insmod: the errno)
#   KLPE out N LINE                      what the command printed
#   KLPE wait N MS | KLPE stuck N MS     transitions finished, or not in time
#   KLPE dmesg N LINE                    a kernel log line the step produced
#   KLPE sys N PATH VALUE                a file under /sys/kernel/livepatch
#   KLPE dir N PATH                      a directory under it
#   KLPE func N FUNCTION WHO             whose code the function runs:
#                                        a patch name, original, or absent
#   KLPE capture N LINE                  klpack deploy capture's state (stdout)
#   KLPE capturelog N LINE               its report (stderr)
#   KLPE capturerc N CODE
#   KLPE ms N observe MS capture MS      how long recording took
#   KLPE done N
#   KLPE end                             the scenario's last line
#   KLPE reset-failed SCENARIO WHAT      the kernel could not be reset after
#                                        it: the scenarios left are not run
#   KLPE halt                            last, then the guest powers off
export PATH=/bin
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
busybox --install -s /bin
[ -d /sys/kernel/security ] && mount -t securityfs securityfs /sys/kernel/security 2>/dev/null

LP=/sys/kernel/livepatch
MODS=/lib/modules/e2e
TRACING=/sys/kernel/tracing
# Patches in the order they were registered: stack_order is missing before
# Linux 6.13, and klpack deploy capture takes the order from us then.
ORDER=""
# Modules whose thread is held.
HELD=""
# "module:file" for every module loaded from $MODS.
FILES=""
mkdir -p /tmp/none

say() {
	echo "KLPE $*"
}

# prefixed N TAG: every line of stdin as "KLPE TAG N LINE".
prefixed() {
	while IFS= read -r line; do
		say "$2 $1 $line"
	done
}

# now_ms: uptime in milliseconds.
now_ms() {
	read -r up _ </proc/uptime
	s=${up%.*}
	cs=${up#*.}
	echo $((s * 1000 + ${cs#0} * 10))
}

# quiet: true when no patch is in transition and none is disabled: a
# patch disabled, or replaced, out of transition is about to be freed by a
# work item, its directory gone. (read, a builtin, forks nothing: under
# TCG every fork counts.)
quiet() {
	for d in "$LP"/*; do
		[ -d "$d" ] || continue
		read -r tr 2>/dev/null <"$d/transition" || continue
		read -r en 2>/dev/null <"$d/enabled" || continue
		[ "$tr" = 1 ] || [ "$en" = 0 ] && return 1
	done
	return 0
}

# settle N: wait until the patches are quiet, at most 60 s, or 2.5 s while
# a thread is held (the scenario may expect a transition to stay pending;
# the kernel retries one every second).
settle() {
	start=$(now_ms)
	bound=60000
	[ -z "$HELD" ] || bound=2500
	while :; do
		now=$(now_ms)
		if quiet; then
			say "wait $1 $((now - start))"
			return
		fi
		if [ $((now - start)) -gt $bound ]; then
			say "stuck $1 $((now - start))"
			return
		fi
		usleep 20000
	done
}

# sysfs N: the livepatch tree, file by file.
sysfs() {
	[ -d "$LP" ] || return
	(cd "$LP" && find . -mindepth 1 | sort) | while IFS= read -r p; do
		p=${p#./}
		if [ -d "$LP/$p" ]; then
			say "dir $1 $p"
		elif [ -r "$LP/$p" ]; then
			read -r v 2>/dev/null <"$LP/$p" || v="?"
			say "sys $1 $p $v"
		fi
	done
}

# observe N: read each patched function through the file it shows.
observe() {
	n=$1
	for pair in cmdline_proc_show:/proc/cmdline version_proc_show:/proc/version \
		loadavg_proc_show:/proc/loadavg uptime_proc_show:/proc/uptime \
		meminfo_proc_show:/proc/meminfo e2e_target_show:/proc/e2e_target \
		foo_show:/sys/kernel/kobject_example/foo b_show:/sys/kernel/kobject_example/bar \
		m_show:/proc/self/mounts; do
		fn=${pair%%:*}
		file=${pair#*:}
		who=absent
		if [ -e "$file" ]; then
			line=""
			read -r line 2>/dev/null <"$file"
			case $line in
			"klpe "*)
				set -- $line
				who=$2
				;;
			*) who=original ;;
			esac
		fi
		say "func $n $fn $who"
	done
}

# file_of MODULE: the file MODULE was loaded from.
file_of() {
	for e in $FILES; do
		[ "${e%%:*}" = "$1" ] && echo "${e#*:}" && return
	done
}

# capture N: klpack deploy capture on the live tree, given the files of the
# patches sysfs lists (scanning all of $MODS at every step took most of
# the runner's time under TCG), or all of $MODS for one it cannot name.
capture() {
	order=""
	for p in $ORDER; do
		[ -d "$LP/$p" ] && order="$order${order:+,}$p"
	done
	set -- "$1" --sysfs "$LP" --kernel-release "$(uname -r)" --modules /tmp/none
	all=""
	for p in $(ls "$LP" 2>/dev/null); do
		f=$(file_of "$p")
		if [ -n "$f" ]; then
			set -- "$@" --modules "$MODS/$f"
		elif [ -z "$all" ]; then
			all=1
			set -- "$@" --modules "$MODS"
		fi
	done
	if [ -n "$order" ] && ! ls "$LP"/*/stack_order >/dev/null 2>&1; then
		set -- "$@" --order "$order"
	fi
	n=$1
	shift
	/bin/klpack deploy capture "$@" </dev/null >/tmp/capture.out 2>/tmp/capture.err
	rc=$?
	prefixed "$n" capture </tmp/capture.out
	prefixed "$n" capturelog </tmp/capture.err
	say "capturerc $n $rc"
}

# record N: everything the host compares after a step.
record() {
	t0=$(now_ms)
	dmesg -c | prefixed "$1" dmesg
	sysfs "$1"
	observe "$1"
	t1=$(now_ms)
	capture "$1"
	say "ms $1 observe $((t1 - t0)) capture $(($(now_ms) - t1))"
	say "done $1"
}

# trace_on FUNCTION: the function tracer, on FUNCTION only.
trace_on() {
	[ -f "$TRACING/current_tracer" ] || mount -t tracefs tracefs "$TRACING" || return
	echo "$1" >"$TRACING/set_ftrace_filter" && echo function >"$TRACING/current_tracer"
}

# without WORD LIST...: the list without WORD.
without() {
	w=$1
	shift
	for x in "$@"; do
		[ "$x" = "$w" ] || printf '%s ' "$x"
	done
}

modname() {
	m=${1##*/}
	m=${m%.ko}
	echo "$m" | tr - _
}

# run SCENARIO: its steps, each recorded.
run() {
	say "begin $1 $(uname -r)"
	if [ ! -f "/e2e/$1.steps" ]; then
		say "error no scenario $1 in /e2e"
		return
	fi
	ORDER=""
	FILES=""
	dmesg -c >/dev/null
	record 0
	n=0
	while read -r kind arg params; do
		[ -n "$kind" ] || continue
		n=$((n + 1))
		say "step $n $kind $arg"
		case $kind in
		load) out=$(e2e-insmod "$MODS/$arg" $params 2>&1 </dev/null) ;;
		enable) out=$( (echo 1 >"$LP/$arg/enabled") 2>&1) ;;
		disable) out=$( (echo 0 >"$LP/$arg/enabled") 2>&1) ;;
		unload) out=$(rmmod "$arg" 2>&1 </dev/null) ;;
		force) out=$( (echo 1 >"$LP/$arg/force") 2>&1) ;;
		hold) out=$( (echo 1 >"/sys/module/$arg/parameters/hold") 2>&1) ;;
		wake) out=$( (echo 0 >"/sys/module/$arg/parameters/hold") 2>&1) ;;
		fail) out=$( (echo -19 >"/sys/module/$arg/parameters/pre_patch_ret") 2>&1) ;;
		sysctl) out=$( (echo "${arg#*=}" >"/proc/sys/$(echo "${arg%%=*}" | tr . /)") 2>&1) ;;
		trace) out=$(trace_on "$arg" 2>&1) ;;
		*) out="unknown step $kind" && false ;;
		esac
		rc=$?
		if [ "$rc" = 0 ]; then
			case $kind in
			load)
				name=$(modname "$arg")
				FILES="$FILES $name:$arg"
				if [ -d "$LP/$name" ]; then
					ORDER="$(echo " $ORDER " | sed "s/ $name / /g") $name"
				fi
				;;
			hold) HELD="$HELD $arg" ;;
			wake) HELD=$(without "$arg" $HELD) ;;
			unload)
				HELD=$(without "$arg" $HELD)
				FILES=$(for e in $FILES; do [ "${e%%:*}" = "$arg" ] || printf '%s ' "$e"; done)
				;;
			esac
		fi
		say "rc $n $rc"
		[ -n "$out" ] && echo "$out" | prefixed "$n" out
		settle "$n"
		record "$n"
	done <"/e2e/$1.steps"
	say end
}

# loaded: the modules of /lib/modules/e2e that are loaded.
loaded() {
	for ko in "$MODS"/*.ko; do
		m=$(modname "$ko")
		[ -d "/sys/module/$m" ] && echo "$m"
	done
}

# reset: back to a kernel without patches or e2e modules, as after a boot;
# false when it cannot be (a transition that does not end, a module the
# kernel keeps).
reset() {
	for m in $HELD; do
		echo 0 >"/sys/module/$m/parameters/hold" 2>/dev/null
	done
	HELD=""
	if [ -f "$TRACING/current_tracer" ]; then
		echo nop >"$TRACING/current_tracer"
		echo >"$TRACING/set_ftrace_filter"
	fi
	echo 1 >/proc/sys/kernel/ftrace_enabled 2>/dev/null
	for _ in 1 2 3; do
		for p in $(ls "$LP" 2>/dev/null); do
			[ "$(cat "$LP/$p/enabled" 2>/dev/null)" = 1 ] || continue
			echo 0 >"$LP/$p/enabled" 2>/dev/null
			settle reset >/dev/null
		done
		settle reset >/dev/null
		for m in $(loaded); do
			rmmod "$m" 2>/dev/null
		done
		[ -z "$(ls "$LP" 2>/dev/null)" ] && [ -z "$(loaded)" ] && return 0
	done
	return 1
}

scenarios=""
for arg in $(cat /proc/cmdline); do
	case $arg in
	klpe.scenarios=*) scenarios=$(echo "${arg#klpe.scenarios=}" | tr , ' ') ;;
	esac
done

[ -n "$scenarios" ] || say "error no scenario given (klpe.scenarios=)"
for sc in $scenarios; do
	run "$sc"
	if ! reset; then
		say "reset-failed $sc patches: $(ls "$LP" 2>/dev/null | tr '\n' ' ')modules: $(loaded | tr '\n' ' ')"
		break
	fi
done
say halt
sync
# Without ACPI (the test kernel) power-off only halts; qemu runs with
# -no-reboot, so a reboot ends it.
if [ -d /sys/firmware/acpi ]; then
	poweroff -f
fi
reboot -f
