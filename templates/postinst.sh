#!/bin/sh
# {{.Package}} {{.Format}} post-install: enable the boot unit and load the
# patches of kernel {{.Kernel}} when it is the running one.
set -efu
{{- if eq .Format "deb"}}
case "${1:-}" in
configure) ;;
*) exit 0 ;;
esac
{{- end}}
if command -v systemctl >/dev/null 2>&1; then
	systemctl enable {{sh .Unit}} >/dev/null 2>&1 || :
fi
exec {{sh .Loader}} start
