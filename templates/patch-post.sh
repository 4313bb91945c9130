#!/bin/sh
# {{.Package}} rpm %post: note that patches of kernel {{.Kernel}} changed;
# the loader runs once, from the transaction's first %posttrans.
set -efu
[ -x {{sh .Loader}} ] || exit 0
exec {{sh .Loader}} mark
