# gen: livepatch modules made by the real tools, committed under
# testdata/gen. Slow (kernel builds); `make test` never runs these, it
# scans and boots what they committed. Included by the top-level Makefile.
#
#   make testdata-gen           all of them
#   make testdata-klp-build     upstream klp-build (linux-source-7.2's
#                               scripts/livepatch/klp-build) on the test
#                               kernel's tree
#   make testdata-kpatch-build  kpatch-build 0.9.11, built from Debian's
#                               source package, on the test kernel's tree
#   make testdata-arm64         our hand-written samples cross-built for arm64

GEN_GOALS := testdata-gen testdata-klp-build testdata-kpatch-build testdata-arm64

# What the generators need, installed only when one is asked for: `make
# test` reads their committed output and needs none of it.
ifneq ($(filter $(GEN_GOALS),$(MAKECMDGOALS)),)

# klp-build: patchutils (recountdiff), gawk, getopt, and xxhash for
# objtool's klp subcommands.
DEPS += recountdiff:patchutils gawk:gawk getopt:util-linux \
	/usr/include/xxhash.h:libxxhash-dev

# kpatch-build: gawk and lsdiff (it checks the patches' files), patch.
DEPS += gawk:gawk lsdiff:patchutils patch:patch

# arm64: the cross compiler and binutils, and what Kconfig and
# modules_prepare run on the host.
DEPS += aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu aarch64-linux-gnu-strip:binutils-aarch64-linux-gnu \
	flex:flex bison:bison bc:bc

endif

.PHONY: $(GEN_GOALS)

testdata-gen: testdata-klp-build testdata-kpatch-build testdata-arm64

testdata-klp-build: install-deps
	sh scripts/gen/klp-build.sh $(CACHE)

testdata-kpatch-build: install-deps
	sh scripts/gen/kpatch-build.sh $(CACHE)

testdata-arm64: install-deps
	sh scripts/gen/arm64.sh $(CACHE)
