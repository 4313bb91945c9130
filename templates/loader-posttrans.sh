#!/bin/sh
# {{.Package}} rpm %posttrans: sync kernel {{.Kernel}} with the installed
# patch packages, unless another %posttrans of this transaction did.
set -efu
exec {{sh .Loader}} trigger
