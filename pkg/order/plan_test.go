package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/klp"
)

const goodPlan = `{"schema":"klpack.plan/v1","kernel_model":"hybrid","ok":true,
 "ops":[{"action":"disable","name":"lp2"},{"action":"load","name":"lp3","path":"seed/lp3.ko"}],
 "notes":["lp2 is disabled first"],
 "findings":[{"rule":"KLP011","name":"hook-moves","severity":"warning","message":"m","patches":["lp3"],"why":"w"}]}`

// goodSteps is goodPlan with the steps of a mainline plan that loads a
// replace patch and loads again the off-band patch it removed.
const goodSteps = `{"schema":"klpack.plan/v1","kernel_model":"mainline","ok":true,
 "ops":[{"action":"load","name":"lp3","path":"seed/lp3.ko"}],
 "steps":[
  {"action":"load","name":"lp3","path":"seed/lp3.ko","expect":{"patches":[{"name":"lp3","enabled":true,"transition":false}],"modules":["lp1","lp3"]}},
  {"action":"unload","name":"lp1","expect":{"patches":[{"name":"lp3","enabled":true,"transition":false}],"modules":["lp3"]}},
  {"action":"load","name":"lp1","path":"/usr/lib/klpack/lp1.ko","expect":{"patches":[{"name":"lp3","enabled":true,"transition":false},{"name":"lp1","enabled":true,"transition":false}],"modules":["lp1","lp3"]}},
  {"action":"disable","name":"lp1","expect":{"patches":[{"name":"lp3","enabled":true,"transition":false}],"modules":["lp1","lp3"]}},
  {"action":"unload","name":"lp1","expect":{"patches":[{"name":"lp3","enabled":true,"transition":false}],"modules":["lp3"]}},
  {"action":"unload","name":"lp3","expect":{"patches":[],"modules":[]}}],
 "notes":[],"findings":[]}`

func TestParsePlan(t *testing.T) {
	p, err := ParsePlan([]byte(goodPlan), "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"lp3"}, p.Loads()); diff != "" || p.Findings[0].Severity != check.Warning {
		t.Errorf("Loads() (-want +got):\n%s; findings %+v", diff, p.Findings)
	}
	// A newer writer's fields are ignored.
	newer := strings.Replace(goodPlan, `"ok":true,`, `"ok":true,"generator":{"v":2},`, 1)
	if _, err := ParsePlan([]byte(newer), "newer.json"); err != nil {
		t.Errorf("ParsePlan(newer) = %v", err)
	}
	// A plan written before steps (the one the testdata release packs)
	// reads as one without them.
	old, err := ReadPlan(filepath.Join("..", "..", "testdata", "pack", "plan-6.1.json"))
	if err != nil || old.Steps != nil || len(old.Ops) != 2 {
		t.Errorf("ReadPlan(plan-6.1.json) = %+v, %v; want two ops and no steps", old, err)
	}
	p, err = ParsePlan([]byte(goodSteps), "steps.json")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range p.Steps {
		got = append(got, st.Action+" "+st.Name+" "+st.Path+fmt.Sprintf(" %d/%d", len(st.Expect.Patches), len(st.Expect.Modules)))
	}
	want := []string{"load lp3 seed/lp3.ko 1/2", "unload lp1  1/1", "load lp1 /usr/lib/klpack/lp1.ko 2/2", "disable lp1  1/2", "unload lp1  1/1", "unload lp3  0/0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if e := p.Steps[2].Expect.Patches[1]; e != (ExpectPatch{Name: "lp1", Enabled: true}) {
		t.Errorf("steps[2].expect.patches[1] = %+v", e)
	}
}

func TestParsePlanBad(t *testing.T) {
	const head = `{"schema":"klpack.plan/v1","ok":true,"ops":`
	const steps = `{"schema":"klpack.plan/v1","ok":true,"ops":[],"steps":`
	const none = `"expect":{"patches":[],"modules":[]}`
	tests := []struct{ name, doc, want string }{
		{"duplicate key", `{"schema":"klpack.plan/v1","ok":false,"ok":true,"ops":[]}`, `ok: duplicate key "ok"`},
		{"duplicate op key", head + `[{"action":"load","name":"a","name":"b"}]}`, `ops[0].name: duplicate key "name"`},
		{"other case", head + `[{"action":"load","Name":"a"}]}`, `ops[0].Name: unknown field (the field is "name")`},
		{"schema", `{"schema":"klpack.plan/v2"}`, `schema: klpack.plan/v2, want "klpack.plan/v1"`},
		{"action", head + `[{"action":"rmmod","name":"a"}]}`, "ops[0].action: rmmod, want disable, unload or load"},
		{"action with ESC", head + `[{"action":"\u001b[2J","name":"a"}]}`, `ops[0].action: "\x1b[2J"`},
		{"no name", head + `[{"action":"load"}]}`, "ops[0].name: empty module name"},
		{"name with newline", head + `[{"action":"load","name":"a\nb"}]}`, `ops[0].name: module name "a\nb"`},
		{"name as path", head + `[{"action":"load","name":"../../x"}]}`, "ops[0].name: module name"},
		{"path with newline", head + `[{"action":"load","name":"a","path":"x\ny"}]}`, `ops[0].path: "x\ny": control character`},
		{"severity", `{"schema":"klpack.plan/v1","findings":[{"severity":"fatal"}]}`, "fatal"},
		{"step action", steps + `[{"action":"rmmod","name":"a",` + none + `}]}`, "steps[0].action: rmmod, want disable, unload or load"},
		{"step name", steps + `[{"action":"unload","name":"a/b",` + none + `}]}`, `steps[0].name: module name "a/b"`},
		{"step path control", steps + `[{"action":"load","name":"a","path":"a\u202e.ko",` + none + `}]}`, `steps[0].path: "a\u202e.ko": format character`},
		{"load without path", steps + `[{"action":"load","name":"a",` + none + `}]}`, "steps[0].path: a load step needs the module's path"},
		{"unload with path", steps + `[{"action":"unload","name":"a","path":"a.ko",` + none + `}]}`, `steps[0].path: "a.ko": only a load step has a path`},
		{"no expect", steps + `[{"action":"unload","name":"a"}]}`, "steps[0].expect.patches: missing"},
		{"no modules", steps + `[{"action":"unload","name":"a","expect":{"patches":[]}}]}`, "steps[0].expect.modules: missing"},
		{"null expect", steps + `[{"action":"unload","name":"a","expect":null}]}`, "steps[0].expect: null where an object is required"},
		{"expect patch name", steps + `[{"action":"unload","name":"a","expect":{"patches":[{"name":"../x"}],"modules":[]}}]}`, "steps[0].expect.patches[0].name: module name"},
		{"expect patch twice", steps + `[{"action":"unload","name":"a","expect":{"patches":[{"name":"x"},{"name":"x","enabled":true}],"modules":[]}}]}`, "steps[0].expect.patches[1].name: x listed twice"},
		{"expect module name", steps + `[{"action":"unload","name":"a","expect":{"patches":[],"modules":["a\nb"]}}]}`, `steps[0].expect.modules[0]: module name "a\nb"`},
		{"start without modules", `{"schema":"klpack.plan/v1","ok":true,"ops":[],"start":{"patches":[]}}`, "start.modules: missing"},
		{"start patch name", `{"schema":"klpack.plan/v1","ok":true,"ops":[],"start":{"patches":[{"name":"a b"}],"modules":[]}}`, `start.patches[0].name: module name "a b"`},
		{"expect module twice", steps + `[{"action":"unload","name":"a","expect":{"patches":[],"modules":["x","y","x"]}}]}`, "steps[0].expect.modules[2]: x listed twice"},
		{"expect duplicate key", steps + `[{"action":"unload","name":"a","expect":{"patches":[{"name":"x","enabled":true,"enabled":false}],"modules":[]}}]}`, `steps[0].expect.patches[0].enabled: duplicate key "enabled"`},
		{"expect wrong type", steps + `[{"action":"unload","name":"a","expect":{"patches":[{"name":"x","transition":"no"}],"modules":[]}}]}`, `steps[0].expect.patches[0].transition: want true or false`},
		{"steps not a list", steps + `{}}`, "steps: "},
		{"wrong type", `{"schema":"klpack.plan/v1","ok":"yes"}`, `ok: want true or false, got string "yes"`},
		{"trailing", `{"schema":"klpack.plan/v1"} x`, "data after the end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePlan([]byte(tt.doc), "plan.json")
			if err == nil || !strings.HasPrefix(err.Error(), "file plan.json: ") || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrBadPlan) {
				t.Errorf("ParsePlan() = %+v, %v; want ErrBadPlan naming plan.json with %q", p, err, tt.want)
			}
		})
	}
}

// TestReadPlan: a plan that is no regular file (a FIFO would block, a
// device never ends) or is larger than the limit is refused before it is
// read, naming the file.
func TestReadPlan(t *testing.T) {
	fifo, huge := testutil.HostileFiles(t, MaxPlanSize+1)
	for _, tt := range []struct{ path, want string }{
		{fifo, fifo + ": not a regular file (a FIFO)"},
		{"/dev/zero", "/dev/zero: not a regular file (a character device)"},
		{huge, huge + ": data exceeds limit"},
	} {
		_, err := ReadPlan(tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrBadPlan) {
			t.Errorf("ReadPlan(%s) = %v, want ErrBadPlan with %q", tt.path, err, tt.want)
		}
	}
	if _, err := ReadPlan(huge); !errors.Is(err, safeio.ErrTooLarge) {
		t.Errorf("ReadPlan(huge) = %v, want ErrTooLarge", err)
	}
	good := filepath.Join(t.TempDir(), "good.json")
	if err := os.WriteFile(good, []byte(goodPlan), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPlan(good); err != nil {
		t.Errorf("ReadPlan(good) = %v", err)
	}
}

// FuzzPlan: an accepted plan encodes to a document that reads back the
// same; a refused one is ErrBadPlan naming the file.
func FuzzPlan(f *testing.F) {
	f.Add([]byte(goodPlan))
	f.Add([]byte(goodSteps))
	f.Add([]byte(`{"schema":"klpack.plan/v1","ok":true,"steps":[{"action":"load","name":"a","expect":{"patches":[{"name":"a","enabled":true}],"modules":["a","a"]}}]}`))
	f.Add([]byte(`{"schema":"klpack.plan/v1","steps":[{"action":"unload","name":"a","path":"x","expect":{"patches":null,"modules":[]}}]}`))
	if b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "pack", "plan-6.1.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"schema":"klpack.plan/v1","ok":false,"ops":[],"notes":[],"findings":[]}`))
	f.Add([]byte(`{"schema":"klpack.plan/v1","ok":true,"ok":false}`))
	f.Add([]byte(`{"schema":"klpack.plan/v1","ops":[{"action":"load","name":"a","path":"\u001b"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan(data, "fuzz.json")
		if err != nil {
			if p != nil || !errors.Is(err, ErrBadPlan) || !strings.HasPrefix(err.Error(), "file fuzz.json: ") {
				t.Fatalf("ParsePlan() = %v, %v; want ErrBadPlan naming fuzz.json", p, err)
			}
			return
		}
		// What the packager turns into file and package names is safe.
		for _, op := range p.Ops {
			if strings.ContainsAny(op.Name, "/. \x00") || strings.ContainsFunc(op.Path, unicode.IsControl) {
				t.Fatalf("accepted op %q", op)
			}
		}
		// What the host loader passes to insmod, rmmod and sysfs paths,
		// and compares sysfs with, is as safe.
		for _, st := range p.Steps {
			names := append([]string{st.Name}, st.Expect.Modules...)
			for _, e := range st.Expect.Patches {
				names = append(names, e.Name)
			}
			for _, n := range names {
				if n == "" || strings.ContainsAny(n, "/. \x00") {
					t.Fatalf("accepted step %+v with name %q", st, n)
				}
			}
			if strings.ContainsFunc(st.Path, unicode.IsControl) || (st.Action == ActionLoad) != (st.Path != "") {
				t.Fatalf("accepted step %+v", st)
			}
			if st.Expect.Patches == nil || st.Expect.Modules == nil {
				t.Fatalf("accepted step %+v without an expected state", st)
			}
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal(parsed) = %v", err)
		}
		again, err := ParsePlan(out, "again.json")
		if err != nil {
			t.Fatalf("ParsePlan(Marshal(parsed)) = %v\n%s", err, out)
		}
		if diff := cmp.Diff(p, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// TestMakeNotLivepatch: a candidate the planner cannot order is an error
// naming its file before any order is tried, never a dereference.
func TestMakeNotLivepatch(t *testing.T) {
	for _, m := range []*klp.Module{
		{Path: "klp_user.ko", Name: "klp_user", Patches: []*klp.Patch{}},
		{Path: "null.json", Name: "null", Livepatch: true, Patches: []*klp.Patch{nil}},
	} {
		// Two candidates: the planner ranks them before any check.
		good := &klp.Module{Path: "good.ko", Name: "good", Livepatch: true, Patches: []*klp.Patch{{Objects: []klp.Object{{Funcs: []klp.Func{{OldName: "f"}}}}}}}
		p, err := Make(&check.Input{Candidates: []*klp.Module{good, m}}, check.Error)
		if err == nil || !strings.HasPrefix(err.Error(), "file "+m.Path+": module "+m.Name) {
			t.Errorf("Make(%s) = %+v, %v; want an error naming the file", m.Path, p, err)
		}
	}
}

// TestWriteTextQuotes: names and paths reach the terminal as one visible
// token each, whatever they hold.
func TestWriteTextQuotes(t *testing.T) {
	p := &Plan{KernelModel: "mainline", OK: true, Ops: []Op{{Action: ActionLoad, Name: "a\x1b[2J", Path: "x\n  2. load y"}}, Notes: []string{"n\r"}}
	var out bytes.Buffer
	if err := WriteText(&out, p); err != nil {
		t.Fatal(err)
	}
	want := `plan (kernel model mainline):
  1. load "a\x1b[2J" ("x\n  2. load y")
note: "n\r"
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("WriteText (-want +got):\n%s", diff)
	}
}

// TestWriteTextSteps: each step prints with the sysfs state after it;
// a patch not simply enabled says so, an empty list says none.
func TestWriteTextSteps(t *testing.T) {
	p := &Plan{KernelModel: "mainline", OK: true, Ops: []Op{{Action: ActionLoad, Name: "cum", Path: "cum.ko"}}, Notes: []string{}, Steps: []Step{
		{Action: ActionDisable, Name: "old", Expect: Expect{Patches: []ExpectPatch{{Name: "x\x1b", Enabled: false, Transition: true}}, Modules: []string{"old", "x\x1b"}}},
		{Action: ActionUnload, Name: "old", Expect: Expect{Patches: []ExpectPatch{}, Modules: []string{}}},
		{Action: ActionLoad, Name: "cum", Path: "cum.ko", Expect: Expect{Patches: []ExpectPatch{{Name: "cum", Enabled: true}}, Modules: []string{"cum"}}},
	}}
	var out bytes.Buffer
	if err := WriteText(&out, p); err != nil {
		t.Fatal(err)
	}
	want := `plan (kernel model mainline):
  1. disable old
     then patches: "x\x1b (disabled) (in transition)"; modules: old, "x\x1b"
  2. unload old
     then patches: none; modules: none
  3. load cum (cum.ko)
     then patches: cum; modules: cum
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("WriteText (-want +got):\n%s", diff)
	}
}
