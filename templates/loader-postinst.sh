#!/bin/sh
# {{.Package}} {{.Format}} post-install: enable the boot unit, and have the
# loader sync kernel {{.Kernel}} with the installed patch packages once
# per package transaction.
set -efu
{{- if eq .Format "deb"}}
# dpkg: configure runs the loader (a configure clears the file triggers the
# patch packages activated meanwhile); "triggered" runs it after a run that
# installed, upgraded or removed only patch packages.
case "${1:-}" in
configure)
	if command -v systemctl >/dev/null 2>&1; then
		systemctl enable {{sh .Unit}} >/dev/null 2>&1 || :
	fi
	exec {{sh .Loader}} start
	;;
triggered) exec {{sh .Loader}} start ;;
esac
{{- else}}
# rpm: mark now; the first %posttrans of the transaction runs the loader.
if command -v systemctl >/dev/null 2>&1; then
	systemctl enable {{sh .Unit}} >/dev/null 2>&1 || :
fi
exec {{sh .Loader}} mark
{{- end}}
