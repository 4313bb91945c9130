package check

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/klpack/klpack/pkg/deploy"
)

// deployedSet is n non-replace patches of 100 functions each, drawn from a
// pool of functions so that stacks are several patches deep.
func deployedSet(n, pool int) *deploy.State {
	var ps []lp
	for i := range n {
		p := lp{name: fmt.Sprintf("lp_%05d", i)}
		for j := range 100 {
			p.funcs = append(p.funcs, fmt.Sprintf("fn_%06d", (i*37+j*101)%pool))
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

// kernelFuncs is about how many functions a kernel has for patches to
// patch: the 6.18 kernel the benchmarks were first run on lists 121,037
// text symbols in /proc/kallsyms.
const kernelFuncs = 120_000

// BenchmarkCheck checks one replace candidate of 100 functions against
// 1,000 and 10,000 deployed patches of 100 functions in one kernel (its
// kernelFuncs functions): the cost must grow linearly, at most 12x, and
// stay within BenchmarkParseState of the same set. The pool=… cases make
// the kernel grow with the patches too (20 functions a patch: 20,000 and
// 200,000), which adds the memory hierarchy's cost to the algorithm's:
// ten times the functions no longer fit the caches the first did.
func BenchmarkCheck(b *testing.B) {
	for _, tc := range []struct {
		name    string
		n, pool int
	}{
		{"deployed=1000", 1000, kernelFuncs},
		{"deployed=10000", 10000, kernelFuncs},
		{"deployed=1000,pool=20000", 1000, 20000},
		{"deployed=10000,pool=200000", 10000, 200000},
	} {
		st := deployedSet(tc.n, tc.pool)
		in := &Input{Deployed: st, Candidates: candidates(candidate())}
		b.Run(tc.name, func(b *testing.B) {
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
		if err := deploy.EncodeState(&buf, deployedSet(n, kernelFuncs)); err != nil {
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
