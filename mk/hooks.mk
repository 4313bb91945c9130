# BPF hooks (issue 7, build time): klpack hooks build and its clang tests.
# The demo builds testdata's hook module into dist/hooks (scripts/demo.sh;
# clang and llvm-strip are in DEMO_DEPS too).

DEPS += clang:clang llvm-strip:llvm
