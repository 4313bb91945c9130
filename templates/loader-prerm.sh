#!/bin/sh
# {{.Package}} {{.Format}} pre-removal: on removal (not upgrade) disable
# the boot unit. The patches stay as they are: the patch packages depend
# on this one, so they are gone or going too, and their removal ran the
# loader.
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
