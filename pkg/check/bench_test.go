package check

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/klpack/klpack/pkg/deploy"
)

// deployedSet is n non-replace patches of 100 functions each, drawn from a
// pool of functions so that stacks are several patches deep.
func deployedSet(n int) *deploy.State {
	var ps []lp
	for i := range n {
		p := lp{name: fmt.Sprintf("lp_%05d", i)}
		for j := range 100 {
			p.funcs = append(p.funcs, fmt.Sprintf("fn_%06d", (i*37+j*101)%(n*20)))
		}
		ps = append(ps, p)
	}
	return state(deploy.ModelMainline, ps...)
}

func candidate() lp {
	c := lp{name: "cumulative", replace: true}
	for j := range 100 {
		c.funcs = append(c.funcs, fmt.Sprintf("fn_%06d", j*7))
	}
	return c
}

// BenchmarkCheck checks one replace candidate of 100 functions against
// 1,000 and 10,000 deployed patches of 100 functions: the cost must grow
// linearly, and stay within a few times BenchmarkParseState of the same
// set.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		st := deployedSet(n)
		in := &Input{Deployed: st, Candidates: candidates(candidate())}
		b.Run(fmt.Sprintf("deployed=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Check(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseState parses the state files of such deployed sets: 1,000
// patches (17 MB) and 1,800, the most under deploy.MaxStateSize (31 MB),
// through ParseState; 10,000 (174 MB), the set BenchmarkCheck checks,
// through DecodeState, which has no size limit of its own.
func BenchmarkParseState(b *testing.B) {
	for _, n := range []int{1000, 1800, 10000} {
		var buf bytes.Buffer
		if err := deploy.EncodeState(&buf, deployedSet(n)); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		b.Run(fmt.Sprintf("deployed=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if len(data) <= deploy.MaxStateSize {
					_, err = deploy.ParseState(bytes.NewReader(data), "bench.json")
				} else {
					_, err = deploy.DecodeState(data, "bench.json")
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
