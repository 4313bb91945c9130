#!/bin/sh
# check-config.sh FRAGMENT CONFIG: every option FRAGMENT sets must hold in
# the final CONFIG: "CONFIG_X=v" lines exactly, "# CONFIG_X is not set" as
# absent or not set. Lists every miss (with what CONFIG says instead) and
# exits 1 when there is one: Kconfig drops options whose dependencies are
# not met without a word.
set -eu

[ $# -eq 2 ] || { echo "usage: check-config.sh FRAGMENT CONFIG" >&2; exit 2; }
fragment=$1
config=$2

missing=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		opt=${line%%=*}
		if ! grep -qxF -- "$line" "$config"; then
			have=$(grep -E "^$opt=|^# $opt is not set" "$config" || echo "absent")
			echo "check-config: want $line, have: $have" >&2
			missing=$((missing + 1))
		fi
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		if grep -qE "^$opt=" "$config"; then
			echo "check-config: want $opt not set, have: $(grep -E "^$opt=" "$config")" >&2
			missing=$((missing + 1))
		fi
		;;
	esac
done <"$fragment"
if [ "$missing" -gt 0 ]; then
	echo "check-config: $missing option(s) of $fragment missing from $config" >&2
	exit 1
fi
