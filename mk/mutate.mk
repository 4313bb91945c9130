# Mutation testing (scripts/mutate): semantic mutants of the code, each
# checked against the package tests. Slow, so not part of make test.

.PHONY: mutate

MUTATE_FLAGS ?= -testflags '-skip TestRebuildScansIdentically|TestDebianTrees'

# The harness rewrites files under test, so it runs on a clean clone of
# HEAD, never on the work tree (whose edits it would refuse or lose); the
# mutants are HEAD's too, as their snippets must match its code.
mutate:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	git clone -q "$$(git rev-parse --show-toplevel)" "$$tmp/src"; \
	mkdir -p $(CACHE)/mutate; \
	sh scripts/mutate.sh -dir "$$tmp/src" -log $(CACHE)/mutate/logs \
		-o $(CACHE)/mutate/results.txt $(MUTATE_FLAGS) \
		"$$tmp/src/scripts/mutate/mutants.txt"; \
	echo "mutate: results in $(CACHE)/mutate/results.txt"
