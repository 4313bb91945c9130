# The host binary (issue 12): the commands a fleet host runs (hooks attach,
# sync, status, set, unset, detach; deploy; scan; simulate; check; plan)
# without those that make a release (package, sign, hooks build) and what
# they link: nfpm, go-git, sprig, the BPF build stage and its templates.
# Install it on hosts as klpack, the name the loader calls (KLPACK_BIN).

HOST_BIN := bin/klpack-host

.PHONY: host
host:
	$(GO) build -tags klpack_host -o $(HOST_BIN) ./cmd/klpack
