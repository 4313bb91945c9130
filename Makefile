# klpack: `make demo` runs the main job on the bundled testdata, `make test`
# runs every test. Both install what they need with apt-get when missing.

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

.PHONY: all build demo test unit fuzz fuzz-short tidy-check bench install-deps testdata trees clean

# Each area's own targets and the Debian packages it needs (DEPS += ...).
include $(wildcard mk/*.mk)

all: build

build:
	$(GO) build -o $(BIN) ./cmd/klpack

install-deps:
	@missing=; for d in $(DEPS); do \
		what=$${d%%:*}; pkg=$${d#*:}; \
		case $$what in /*) test -e $$what ;; *) command -v $$what >/dev/null 2>&1 ;; esac \
			|| missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "install-deps: installing$$missing"; \
		SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

# The real Debian module trees the agreement tests and benchmarks read.
trees: install-deps
	sh scripts/fetch-trees.sh $(TREES)

demo: build
	@echo "== klpack scan testdata/ko/6.1.0-56-amd64 (livepatch modules, as built)"
	./$(BIN) scan testdata/ko/6.1.0-56-amd64/lp_*[a-z].ko
	@echo "== the same module stripped of all local symbols, xz-compressed copies included"
	./$(BIN) scan testdata/ko/6.1.0-56-amd64/lp_param.strip-unneeded.ko testdata/ko/6.1.0-56-amd64/lp_multiobj.ko.xz
	@echo "== modules made by kpatch-build and upstream klp-build for the test kernel (patch built at init), and one cross-built for arm64"
	./$(BIN) scan testdata/gen/kpatch-build/ko/kpb_replace.ko testdata/gen/klp-build/ko/klpb_sympos.ko testdata/ko/7.2.13-arm64/lp_replace.ko
	@echo "== JSON (klpack.scan/v1) of one module"
	./$(BIN) scan --json testdata/ko/6.12.117+deb12-amd64/lp_replace.ko.zst
	@echo "== klpack simulate: the sample modules loaded, disabled, replaced and unloaded on 6.1"
	./$(BIN) simulate testdata/scenarios/testdata-6.1.yaml
	@echo "== klpack check: lp_replace.ko against 6.1 running lp_noreplace and lp_multiobj: the kernel would refuse it"
	./$(BIN) check --deployed testdata/states/testdata-6.1.json testdata/ko/6.1.0-56-amd64/lp_replace.ko || test $$? -eq 1
	@echo "== klpack check: a cumulative release (lp3) against a hybrid kernel running off-band lp1 and cumulative lp2"
	./$(BIN) check --deployed testdata/states/seed-hybrid.json testdata/scenarios/seed/lp3.json || test $$? -eq 1
	@echo "== the same release on a mainline kernel: refused, lp3 would remove the off-band lp1"
	./$(BIN) check --deployed testdata/states/seed-mainline.json testdata/scenarios/seed/lp3.json || test $$? -eq 1

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
	$(GO) test -run '^$$' -bench . -benchmem ./...
	KLPACK=./$(BIN) sh scripts/bench-compare.sh $(TREES)

# Rebuild the sample modules with Kbuild against the Debian headers.
testdata: install-deps
	sh testdata/build.sh

clean:
	rm -rf bin
