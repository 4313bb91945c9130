package check

import (
	"fmt"
	"strings"

	"github.com/klpack/klpack/pkg/klp"
)

// instrumentation: KLP019, the sites of each patched function's original
// that its new function lacks. Sites are compared as a multiset by kind
// and name: a patch that keeps one of two trace_foo() calls loses one.
// A function the target's files do not name unambiguously, or a candidate
// whose own sites are unknown, is not judged.
func (c *checker) instrumentation() {
	if c.in.Sites == nil {
		return
	}
	for _, m := range c.in.Candidates {
		own := c.in.CandidateSites[m.Name]
		if own == nil || len(m.Patches) == 0 {
			continue
		}
		for _, o := range m.Patches[0].Objects {
			target := c.in.Sites[o.ObjectName()]
			if target == nil {
				continue
			}
			for _, f := range o.Funcs {
				orig, ok := target.Lookup(f.OldName, f.OldSympos)
				if !ok || len(orig) == 0 {
					continue
				}
				repl, ok := own.Lookup(f.NewFunc, 0)
				if !ok {
					continue
				}
				lost := lostSites(orig, repl)
				if len(lost) == 0 {
					continue
				}
				names := make([]string, len(lost))
				for i, s := range lost {
					names[i] = s.String()
				}
				key := klp.KeyOf(&o, &f).String()
				c.report(RuleInstrumentationLost, m.Path,
					fmt.Sprintf("%s: %s of %s loses %s while %s runs instead", m.Name, f.OldName, o.ObjectName(), strings.Join(names, ", "), f.NewFunc),
					[]string{m.Name}, []string{key})
			}
		}
	}
}

// lostSites is orig less repl, as multisets by kind and name, in orig's
// order.
func lostSites(orig, repl []klp.Site) []klp.Site {
	type kn struct{ kind, name string }
	have := map[kn]int{}
	for _, s := range repl {
		have[kn{s.Kind, s.Name}]++
	}
	var lost []klp.Site
	for _, s := range orig {
		k := kn{s.Kind, s.Name}
		if have[k] > 0 {
			have[k]--
			continue
		}
		lost = append(lost, s)
	}
	return lost
}
