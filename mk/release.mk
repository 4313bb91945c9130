# klpack release (issue 14): the whole pipeline over a klpack.yaml. The
# demo releases testdata/klpack.yaml with throwaway keys into dist/
# (scripts/demo.sh, run by the demo target in the Makefile); the
# createrepo_c it needs is in DEMO_DEPS, and the release tests' tools in
# mk/pack.mk and mk/repo.mk.
