package deploy

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const tasksHead = `{"schema":"klpack.deployed/v1","kernel":{"release":"r"},"patches":[],"tasks":`

// TestStateTasks: a state's recorded tasks round-trip, and every bound and
// name rule refuses with the field it is about.
func TestStateTasks(t *testing.T) {
	doc := tasksHead + `[{"pid":412,"comm":"e2e_hold","kthread":true,"state":"D","frames":[{"function":"e2e_hold_sleep","module":"e2e_hold"},{"function":"kthread"}]},
		{"pid":9,"comm":"a\u001b[2J","kthread":false,"state":"S","frames":[]}]}`
	s, err := ParseState(strings.NewReader(doc), "good.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []Task{
		{PID: 412, Comm: "e2e_hold", Kthread: true, State: "D", Frames: []Frame{{"e2e_hold_sleep", "e2e_hold"}, {"kthread", ""}}},
		{PID: 9, Comm: "a\x1b[2J", State: "S", Frames: []Frame{}},
	}
	if diff := cmp.Diff(want, s.Tasks); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	var b bytes.Buffer
	if err := EncodeState(&b, s); err != nil {
		t.Fatal(err)
	}
	back, err := ParseState(&b, "again")
	if err != nil || !cmp.Equal(back.Tasks, s.Tasks) {
		t.Errorf("round trip: %v, %v", back, err)
	}
	// A state without tasks keeps the key out.
	s.Tasks = nil
	b.Reset()
	EncodeState(&b, s)
	if strings.Contains(b.String(), `"tasks"`) {
		t.Errorf("a state without tasks prints the key:\n%s", b.String())
	}

	for _, tt := range []struct{ name, doc, field, msg string }{
		{"pid zero", `[{"pid":0,"comm":"a","state":"S","frames":[]}]}`, "tasks[0].pid", "no process id"},
		{"state not a letter", `[{"pid":1,"comm":"a","state":"SS","frames":[]}]}`, "tasks[0].state", "no state letter"},
		{"comm too long", `[{"pid":1,"comm":"` + strings.Repeat("a", 65) + `","state":"S","frames":[]}]}`, "tasks[0].comm", "65 bytes"},
		{"function with ESC", `[{"pid":1,"comm":"a","state":"S","frames":[{"function":"f\u001b[2J"}]}]}`, "tasks[0].frames[0].function", "control character"},
		{"function with a space", `[{"pid":1,"comm":"a","state":"S","frames":[{"function":"f [m]"}]}]}`, "tasks[0].frames[0].function", "in a symbol name"},
		{"empty function", `[{"pid":1,"comm":"a","state":"S","frames":[{"function":""}]}]}`, "tasks[0].frames[0].function", "empty name"},
		{"module with newline", `[{"pid":1,"comm":"a","state":"S","frames":[{"function":"f","module":"m\n"}]}]}`, "tasks[0].frames[0].module", "control character"},
		{"too many frames", `[{"pid":1,"comm":"a","state":"S","frames":[` + strings.Repeat(`{"function":"f"},`, 64) + `{"function":"f"}]}]}`, "tasks[0].frames", "65 frames"},
		{"pid a string", `[{"pid":"1","comm":"a","state":"S","frames":[]}]}`, "tasks[0].pid", "want integer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseState(strings.NewReader(tasksHead+tt.doc), "bad.json")
			se, ok := errors.AsType[*StateError](err)
			if !ok || s != nil || se.Field != tt.field || !strings.Contains(se.Msg, tt.msg) {
				t.Fatalf("ParseState = %v, %v; want a *StateError at %s with %q", s, err, tt.field, tt.msg)
			}
		})
	}
}
