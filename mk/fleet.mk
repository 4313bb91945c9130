# The fleet check (issue 18): klpack check --fleet, and its side-by-side
# bench against jq over the same generated inventory. jq and GNU time are
# the bench's only: `make test` does not need them.

FLEET_BENCH_DEPS := jq:jq /usr/bin/time:time

.PHONY: bench-fleet
bench: bench-fleet

bench-fleet: build
	$(call apt-install,$(FLEET_BENCH_DEPS))
	KLPACK=./$(BIN) GO=$(GO) sh scripts/bench-fleet.sh
