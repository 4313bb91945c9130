# make dist: klpack's own rpm and deb in $(DIST_DIR) (internal/dist): the
# full binary with the version linked in, the man pages of docs/man and
# the bash, zsh and fish completions. Patch packages whose modules carry
# BPF hooks depend on it. Nothing to apt-install: nfpm is Go.
# DIST_VERSION is the tag v1.2.3 on HEAD as 1.2.3, else
# 0.0~git<commit date>.<commit>; the files carry the commit's time
# (SOURCE_DATE_EPOCH), so the same commit makes the same unsigned
# packages. DIST_SIGN_KEY (an OpenPGP secret key file, its passphrase in
# the variable DIST_PASSPHRASE_ENV names) signs both.

DIST_DIR     ?= dist/klpack
DIST_VERSION ?= $(or $(patsubst v%,%,$(shell git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null)),0.0~git$(shell git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null).$(shell git rev-parse --short=7 HEAD 2>/dev/null))

.PHONY: dist
dist:
	$(GO) build -buildvcs=auto -ldflags '-X main.version=$(DIST_VERSION)' -o bin/dist/klpack ./cmd/klpack
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct)} $(GO) run ./internal/dist/cmd/klpack-dist \
		-binary bin/dist/klpack -man docs/man -version '$(DIST_VERSION)' -o $(DIST_DIR) \
		$(if $(DIST_SIGN_KEY),-sign-key '$(DIST_SIGN_KEY)' $(if $(DIST_PASSPHRASE_ENV),-passphrase-env '$(DIST_PASSPHRASE_ENV)'))
