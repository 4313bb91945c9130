# klpack: `make demo` tours the pipeline on the bundled testdata, `make
# test` runs every test. Each installs what it uses with apt-get when
# missing: the demo only its own tools (DEMO_DEPS), the tests all (DEPS).

GO       ?= go
BIN      := bin/klpack
CACHE    ?= $(or $(KLPACK_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/klpack)
TREES    := $(CACHE)/trees
FUZZTIME ?= 10m
export KLPACK_CACHE := $(CACHE)

# Debian packages the tests use, by the command or file that shows them.
DEPS := make:make gcc:gcc strip:binutils modinfo:kmod xz:xz-utils zstd:zstd \
	gzip:gzip pahole:dwarves dpkg-deb:dpkg apt-get:apt hyperfine:hyperfine \
	/usr/src/linux-headers-6.1.0-56-amd64/Makefile:linux-headers-6.1.0-56-amd64 \
	/usr/src/linux-headers-6.12.117+deb12-amd64/vmlinux:linux-headers-6.12.117+deb12-amd64

# The Debian packages the demo uses: the tools scripts/demo.sh's stages
# call, nothing else. Go is a prerequisite and the sample modules are
# committed, so no kernel headers, kernel image or qemu; scan, check, plan,
# the packages, the apt repository and all signing are klpack's own Go.
#   clang, llvm-strip  klpack hooks build compiles and strips each hook
#   createrepo_c       the dnf repository klpack release writes
#   rpmkeys            the demo's check of one package's signature
DEMO_DEPS := clang:clang llvm-strip:llvm createrepo_c:createrepo-c rpmkeys:rpm

.PHONY: all build demo test unit fuzz fuzz-short tidy-check bench install-deps install-demo-deps testdata trees clean

# Each area's own targets and the Debian packages it needs (DEPS += ...).
include $(wildcard mk/*.mk)

# The tests run the demo's script too (internal/tour), so they need its
# tools as well.
DEPS += $(DEMO_DEPS)

all: build

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/klpack

# apt-install installs the packages of the list $(1) (items
# command-or-path:package) whose command is not on PATH or whose path is
# missing; $@ names the target in its message.
define apt-install
	@missing=; for d in $(sort $(1)); do \
		what=$${d%%:*}; pkg=$${d#*:}; \
		case $$what in /*) test -e $$what ;; *) command -v $$what >/dev/null 2>&1 ;; esac \
			|| case " $$missing " in *" $$pkg "*) ;; *) missing="$$missing $$pkg" ;; esac; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "$@: installing$$missing"; \
		SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

install-deps:
	$(call apt-install,$(DEPS))

install-demo-deps:
	$(call apt-install,$(DEMO_DEPS))

# The real Debian module trees the agreement tests and benchmarks read.
trees: install-deps
	sh scripts/fetch-trees.sh $(TREES)

# The tour README.md shows (scripts/demo.sh; internal/tour checks the two
# agree): scan, check, plan, hooks, release, leaving the repositories in
# dist/. The keys are throwaway ones made in a temporary directory removed
# at the end; the release's public key stays in dist/signing-key.asc.
demo: install-demo-deps build
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(GO) run ./internal/throwaway/cmd/klpack-throwaway-keys "$$tmp"; \
	sh scripts/demo.sh ./$(BIN) "$$tmp"

# TREE_STATE hashes the work tree's changes: git status, the diff of
# tracked files and the content of untracked ones. make test compares it
# before and after, so edits made before the run do not count and files
# written by the run (a test writing into the tree, a golden rewritten) do.
TREE_STATE = { git status --porcelain --untracked-files=all; git diff HEAD --binary; \
	git ls-files -o --exclude-standard | git hash-object --stdin-paths; } | git hash-object --stdin
ifneq ($(filter test,$(MAKECMDGOALS)),)
TREE_BEFORE := $(shell git rev-parse --is-inside-work-tree >/dev/null 2>&1 && { $(TREE_STATE); })
endif

# Every tier: unit, golden, CLI scripts, rebuild of the testdata, real
# Debian trees, a short run of every fuzz target. Missing tools fail
# instead of skipping, and the run must leave the work tree as it found it.
test: install-deps trees tidy-check
	KLPACK_REQUIRE_TOOLS=1 KLPACK_TREES=$(TREES) $(GO) test -tags e2e -count=1 ./...
	KLPACK_TREES=$(TREES) $(GO) test -run '^$$' -bench . -benchtime 1x ./...
	$(MAKE) fuzz-short
	@if [ -n "$(TREE_BEFORE)" ] && [ "$$($(TREE_STATE))" != "$(TREE_BEFORE)" ]; then \
		echo "make test: the run changed the work tree (a test writing into it, or a golden rewritten); git status now:" >&2; \
		git status --porcelain --untracked-files=all >&2; \
		exit 1; \
	fi

# go.mod and go.sum as go mod tidy would leave them.
tidy-check:
	@$(GO) mod tidy -diff || { echo "tidy-check: go.mod/go.sum are not tidy (the diff above); run go mod tidy" >&2; exit 1; }

unit:
	$(GO) test ./...

# fuzz-short and fuzz run every fuzz target of every package, found with
# go test -list, so that a new or moved target runs without being named
# here; each alone, as go test -fuzz takes one target of one package.
# go test -list runs on the directories whose tests grep finds a func Fuzz
# in (listing ./... would build every test binary), and must find as many
# targets as grep: one it misses would never run.
# A target that finds a failing input does not stop the others; the run
# fails at the end, naming them. Go 1.26's coordinator may end a run
# with "context deadline exceeded" and no input (go.dev/issue/75804):
# that alone is no failure.
# FUZZ_EACH is the time per target, FUZZ_SCAN FuzzScan's (the broadest),
# FUZZ_MINIMIZE bounds the minimizing of each new input, in runs: for
# large seeds (real modules) a time bound let minimizing take the whole
# run (FuzzELF64: 458 execs in 60 s with 10 s, 1.2 million with 200x).
fuzz-short: FUZZ_EACH := 5s
fuzz-short: FUZZ_SCAN := 20s
fuzz-short: FUZZ_MINIMIZE := 200x
fuzz: FUZZ_EACH := $(FUZZTIME)
fuzz: FUZZ_SCAN := $(FUZZTIME)
fuzz: FUZZ_MINIMIZE := 200x
fuzz-short fuzz:
	@set -e; \
	dirs=$$(grep -rl --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git '^func Fuzz' . | xargs -r -n1 dirname | sort -u); \
	[ -n "$$dirs" ] || { echo "$@: no fuzz targets found" >&2; exit 1; }; \
	list=$$($(GO) test -list '^Fuzz' $$dirs) || { echo "$$list" >&2; exit 1; }; \
	targets=$$(echo "$$list" | awk '/^Fuzz/ { n[++c] = $$1; next } /^ok/ { for (i = 1; i <= c; i++) print $$2 ":" n[i]; c = 0 }'); \
	want=$$(grep -rh --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git '^func Fuzz' . | wc -l); \
	got=$$(echo $$targets | wc -w); \
	[ "$$got" -eq "$$want" ] || { echo "$@: go test -list found $$got fuzz targets, the sources define $$want (a build tag hiding one?):" $$targets >&2; exit 1; }; \
	echo "$@: $$got fuzz targets"; \
	log=$$(mktemp); trap 'rm -f "$$log" "$$log.rc"' EXIT; \
	for t in $$targets; do \
		pkg=$${t%:*}; name=$${t##*:}; dur=$(FUZZ_EACH); \
		[ "$$name" != FuzzScan ] || dur=$(FUZZ_SCAN); \
		echo "== $$name in $$pkg for $$dur"; \
		echo 0 >$$log.rc; { $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $$dur -fuzzminimizetime $(FUZZ_MINIMIZE) $$pkg 2>&1 || echo $$? >$$log.rc; } | tee $$log; \
		if [ "$$(cat $$log.rc)" -ne 0 ]; then \
			if grep -q '^    context deadline exceeded$$' $$log && ! grep -q 'Failing input written' $$log; then \
				echo "$@: $$name: Go's fuzztime race (go.dev/issue/75804, fixed in Go 1.27), no failing input: not counted"; \
			else failed="$$failed $$name"; fi; \
		fi; \
	done; \
	[ -z "$$failed" ] || { echo "$@: failing inputs found by:$$failed (kept under testdata/fuzz/)" >&2; exit 1; }

bench: install-deps trees build
	GO=$(GO) sh scripts/bench-go.sh
	KLPACK=./$(BIN) sh scripts/bench-compare.sh $(TREES)

# Rebuild the sample modules with Kbuild against the Debian headers.
testdata: install-deps
	sh testdata/build.sh

clean:
	rm -rf bin
