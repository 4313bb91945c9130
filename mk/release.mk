# klpack release (issue 14): the whole pipeline over testdata/klpack.yaml,
# signed with throwaway keys, leaving the repositories in dist/.

.PHONY: demo-release
demo: demo-release

# demo-pack (mk/pack.mk) starts by emptying dist/; run after it. The keys
# are made in a temporary directory removed at the end; only the public
# key stays, in dist/keys.
demo-release: build $(if $(filter demo,$(MAKECMDGOALS)),demo-pack demo-hooks)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(GO) run ./internal/throwaway/cmd/klpack-throwaway-keys $$tmp; \
	mkdir -p $(DIST)/keys; cp $$tmp/signing-key.pub.asc $(DIST)/keys/klpack-release.asc; \
	echo "== klpack release -f testdata/klpack.yaml (throwaway keys), into $(DIST)/"; \
	SOURCE_DATE_EPOCH=$(DEMO_EPOCH) ./$(BIN) release -f testdata/klpack.yaml -o $(DIST) \
		--sign-key $$tmp/signing-key.asc --module-key $$tmp/module-key.pem --module-cert $$tmp/module-cert.pem
