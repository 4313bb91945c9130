#!/bin/sh
# {{.Package}} rpm %postun: after a removal (not an upgrade) the loader
# unloads this package's patch. rpm runs no %posttrans for a removal, and
# nfpm emits no %transfiletriggerpostun: each removed patch package runs
# the loader once.
set -efu
[ "${1:-}" = 0 ] || exit 0
[ -x {{sh .Loader}} ] || exit 0
{{sh .Loader}} mark
exec {{sh .Loader}} trigger
