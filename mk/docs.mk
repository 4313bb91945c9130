# make docs rewrites the generated reference pages, docs/cli (Markdown)
# and docs/man (section 1), from the cobra command tree; TestDocs fails
# when a committed page differs from what the tree makes.
.PHONY: docs

docs:
	$(GO) test ./cmd/klpack -run '^TestDocs$$' -count=1 -update
