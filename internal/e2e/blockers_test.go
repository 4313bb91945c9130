//go:build e2e

package e2e

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
)

// blockersScript is TestBlockersGuest's guest (runScript). e2e_hold's thread sleeps uninterruptibly in e2e_hold_sleep; klpack
// captures the stacks and checks e2e_hb (which patches e2e_hold_sleep)
// and e2e_a (which does not). Then the kernel: e2e_a's transition ends at
// once, e2e_hb's stays pending past klp_send_signals' first round (15
// retries of a second) and ends when the thread is woken.
const blockersScript = `# settle TAG PATCH SECONDS: wait for PATCH's transition to end, at most
# SECONDS; say how long it took, or that it did not.
settle() {
	n=0
	while [ "$(cat $LP/$2/transition)" = 1 ] && [ $n -lt $(($3 * 10)) ]; do usleep 100000; n=$((n + 1)); done
	say "$1 transition $(cat $LP/$2/transition) after $n"
}
say "begin $(uname -r)"
run hold-load insmod $M/e2e_hold.ko
run hold sh -c "echo 1 >/sys/module/e2e_hold/parameters/hold"
run stack sh -c 'cat /proc/$(pidof e2e_hold)/stat; cat /proc/$(pidof e2e_hold)/stack'
# -o on the test kernel, which has no CONFIG_FILE_LOCKING (flock: ENOSYS),
# writes the file all the same.
run capture klpack deploy capture --sysfs $LP --modules /tmp/none --kernel-release $(uname -r) --stacks --json -o /tmp/state.json
run state cat /tmp/state.json
run check-hb klpack check --json --deployed /tmp/state.json $M/e2e_hb.ko
run check-a klpack check --json --deployed /tmp/state.json $M/e2e_a.ko
run load-a insmod $M/e2e_a.ko
say "a transition $(cat $LP/e2e_a/transition)"
run load-hb insmod $M/e2e_hb.ko
sleep 3
say "hb transition-3s $(cat $LP/e2e_hb/transition)"
sleep 15
say "hb transition-18s $(cat $LP/e2e_hb/transition)"
run dmesg sh -c "dmesg | grep -i livepatch"
run wake sh -c "echo 0 >/sys/module/e2e_hold/parameters/hold"
settle hb e2e_hb 30
`

// TestBlockersGuest proves rule KLP020 on real kernels: a kernel thread
// asleep in e2e_hold_sleep, captured by `klpack deploy capture --stacks`
// in the guest, is named by `klpack check` for the release that patches
// the function (e2e_hb) and not for the one that does not (e2e_a); the
// kernel then does as predicted: e2e_a's transition ends at once, e2e_hb's
// stays pending past the first round of klp_send_signals (a kernel thread
// in uninterruptible sleep is not woken) and ends when the thread leaves.
func TestBlockersGuest(t *testing.T) {
	g := setupGuests(t, "test", "6.1")
	bin := g.staticKlpack(t)
	g.eachKernel(t, func(t *testing.T, k kernelInfo) { blockersGuest(t, g, k, bin) })
}

func blockersGuest(t *testing.T, g *guests, k kernelInfo, bin string) {
	r := g.runScript(t, k, "blockers", bin, blockersScript, 300*time.Second)
	for _, tag := range []string{"hold-load", "hold", "stack", "capture", "state", "load-a", "load-hb", "wake"} {
		r.wantRC(t, tag, 0)
	}
	// The state the guest captured records the thread: a kernel thread in
	// uninterruptible sleep, e2e_hold_sleep of module e2e_hold on top.
	var st deploy.State
	if err := json.Unmarshal([]byte(strings.Join(r.out["state"], "\n")), &st); err != nil {
		t.Fatalf("the captured state: %v\n%s", err, strings.Join(r.out["state"], "\n"))
	}
	i := slices.IndexFunc(st.Tasks, func(x deploy.Task) bool { return x.Comm == "e2e_hold" })
	if i < 0 {
		t.Fatalf("the captured state has no task e2e_hold; tasks %+v", st.Tasks)
	}
	hold := st.Tasks[i]
	if !hold.Kthread || hold.State != "D" || len(hold.Frames) == 0 ||
		!slices.Contains(hold.Frames, deploy.Frame{Function: "e2e_hold_sleep", Module: "e2e_hold"}) {
		t.Errorf("task e2e_hold = %+v, want a kernel thread in state D with frame e2e_hold_sleep [e2e_hold]", hold)
	}

	// check names the thread for e2e_hb, by hand: one warning, the
	// function, the patch, the thread's pid, and that no kernel switches
	// it.
	blockers := func(tag string) []check.Finding {
		t.Helper()
		r.wantRC(t, tag, 0) // a warning does not fail the default --fail-on error
		var rep check.Report
		if err := json.Unmarshal([]byte(strings.Join(r.out[tag], "\n")), &rep); err != nil {
			t.Fatalf("%s: %v\n%s", tag, err, strings.Join(r.out[tag], "\n"))
		}
		var out []check.Finding
		for _, f := range rep.Findings {
			if f.Rule == check.RuleTransitionBlocker {
				out = append(out, f)
			}
		}
		return out
	}
	hb := blockers("check-hb")
	wantMsg := "kernel thread e2e_hold (pid " + strconv.Itoa(hold.PID) + ", state D) sleeps in the original of e2e_hold/e2e_hold_sleep,1, which e2e_hb changes"
	if len(hb) != 1 || hb[0].Severity != check.Warning || !slices.Equal(hb[0].Patches, []string{"e2e_hb"}) ||
		!slices.Equal(hb[0].Functions, []string{"e2e_hold/e2e_hold_sleep,1"}) ||
		!strings.Contains(hb[0].Message, wantMsg) || !strings.Contains(hb[0].Message, "no kernel switches it") {
		t.Errorf("check e2e_hb: KLP020 findings %+v, want one warning: %q, no kernel switches it", hb, wantMsg)
	}
	if a := blockers("check-a"); len(a) != 0 {
		t.Errorf("check e2e_a: KLP020 findings %+v, want none", a)
	}

	// The kernel as predicted.
	says := func(key, want string) {
		t.Helper()
		if got := r.said[key]; got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
	says("a transition", "0")
	says("hb transition-3s", "1")
	says("hb transition-18s", "1")
	if v := r.said["hb transition"]; !strings.HasPrefix(v, "0 after ") {
		t.Errorf("e2e_hb's transition after the wake: %q, want it ended (0)", v)
	}
	t.Logf("%s: e2e_hb's transition held by e2e_hold (pid %d) past 18 s, ended %s tenths of a second after the wake; dmesg:\n  %s",
		k.Release, hold.PID, strings.TrimPrefix(r.said["hb transition"], "0 after "), strings.Join(r.out["dmesg"], "\n  "))
}
