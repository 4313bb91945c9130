#!/bin/sh
# {{.Package}} {{.Format}} pre-removal: on removal (not upgrade) disable and
# unload {{.Module}}; the package stays when its patch cannot be undone.
set -efu
{{- if eq .Format "deb"}}
case "${1:-}" in
remove | deconfigure) ;;
*) exit 0 ;;
esac
{{- else}}
[ "${1:-}" = 0 ] || exit 0
{{- end}}
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable {{sh .Unit}} >/dev/null 2>&1 || :
fi
exec {{sh .Loader}} stop {{sh .Module}}
