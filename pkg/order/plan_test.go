package order

import (
	"bytes"
	"encoding/json"
	"errors"
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
}

func TestParsePlanBad(t *testing.T) {
	const head = `{"schema":"klpack.plan/v1","ok":true,"ops":`
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
