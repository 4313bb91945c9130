#!/bin/sh
# {{.Package}} rpm %posttrans: run the loader of kernel {{.Kernel}} if no
# other %posttrans of this transaction has.
set -efu
[ -x {{sh .Loader}} ] || exit 0
exec {{sh .Loader}} trigger
