package status

import (
	"fmt"
	"strings"
)

// judge sets OK and adds the reasons the host does not run what its
// packages say:
//   - an installed package whose patch is not loaded, or loaded and
//     disabled;
//   - a loaded patch no installed package claims (or more than one does);
//   - a transition in progress: some tasks run one release, some another;
//   - a hook off the code that runs (bypassed or stale probes) or
//     unreadable.
func judge(st *Status) {
	claims := make(map[string]int)
	for _, p := range st.Packages {
		claims[p.Module]++
		switch {
		case !p.Loaded:
			st.Problems = append(st.Problems, fmt.Sprintf("package %s %s installs %s, which is not loaded", p.Name, p.Version, p.Module))
		case !p.Enabled:
			st.Problems = append(st.Problems, fmt.Sprintf("package %s %s installs %s, which is loaded but disabled", p.Name, p.Version, p.Module))
		}
	}
	for _, p := range st.Patches {
		switch n := claims[p.Name]; {
		case n == 0:
			st.Problems = append(st.Problems, fmt.Sprintf("%s is loaded but no installed package claims it", p.Name))
		case n > 1:
			st.Problems = append(st.Problems, fmt.Sprintf("%s is claimed by %d installed packages", p.Name, n))
		}
	}
	if t := st.Transition; t != nil {
		st.Problems = append(st.Problems, fmt.Sprintf("%s is in transition (%s): %d task(s) not yet switched", t.Patch, t.Direction, len(t.Pending)))
	}
	for _, h := range st.Hooks {
		if h.OK() {
			continue
		}
		var why []string
		if len(h.Bypassed) > 0 {
			why = append(why, "live copies without a probe: "+strings.Join(h.Bypassed, ", "))
		}
		if len(h.Stale) > 0 {
			why = append(why, "probes on copies that no longer run: "+strings.Join(h.Stale, ", "))
		}
		if h.Problem != "" {
			why = append(why, h.Problem)
		}
		st.Problems = append(st.Problems, fmt.Sprintf("hook %s: %s", h.Hook, strings.Join(why, "; ")))
	}
	st.OK = len(st.Problems) == 0
}
