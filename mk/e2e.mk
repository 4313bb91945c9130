# e2e: the simulator against real kernels under qemu (internal/e2e,
# scripts/e2e, testdata/e2e). Included by the top-level Makefile.
#
#   make e2e          fetch and build what the guests need (cached under
#                     $(CACHE)/e2e), then boot every scenario on every kernel
#   make e2e-prepare  only the fetching and building
#   make testkernel   build our own test kernel (cached, keyed by the
#                     config fragment's hash)
#
# E2E_KERNELS picks kernels (6.1 6.12 7.2 test); KLPACK_E2E_SCENARIOS picks
# scenarios by name.

E2E_KERNELS ?= 6.1 6.12 7.2 test test-hybrid test-replace-set
# Kernels only some guest tests boot, prepared with the others:
# test-rebuild (the test kernel built again, another build-id) for
# TestPinnedBuildGuest.
E2E_EXTRA_KERNELS ?= test-rebuild

# libc6-dev: libc.a for the guests' static insmod (scripts/e2e/insmod.c).
DEPS += qemu-system-x86_64:qemu-system-x86 /bin/busybox:busybox-static \
	x86_64-linux-gnu-gcc-12:gcc-12 flex:flex bison:bison bc:bc \
	/usr/include/libelf.h:libelf-dev /usr/include/openssl/ssl.h:libssl-dev \
	cpio:cpio /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev

.PHONY: e2e e2e-prepare testkernel

# The downloads and builds run before `go test` (whose binary has a
# deadline), so the test itself only boots.
e2e-prepare: install-deps
	sh scripts/e2e/prepare.sh $(E2E_KERNELS) $(E2E_EXTRA_KERNELS)

testkernel: install-deps
	sh scripts/e2e/testkernel.sh $(CACHE)

e2e: e2e-prepare
	KLPACK_REQUIRE_TOOLS=1 KLPACK_E2E_KERNELS="$(E2E_KERNELS)" \
		$(GO) test -tags e2e -count=1 -timeout 60m -run '^TestE2E$$' -v ./internal/e2e $(if $(CI),,-args -update)

# `make test` runs every package with -tags e2e: prepare first, and give
# go test the time the boots take (go build ignores -timeout in GOFLAGS).
test: e2e-prepare
test: export GOFLAGS := $(strip $(GOFLAGS) -timeout=60m)
