package check

import (
	"encoding/json"
	"testing"
)

func TestCounts(t *testing.T) {
	tests := []struct {
		e, w, i int
		want    string
	}{
		{0, 0, 0, "0 errors, 0 warnings, 0 infos"},
		{1, 0, 0, "1 error, 0 warnings, 0 infos"},
		{0, 1, 0, "0 errors, 1 warning, 0 infos"},
		{0, 0, 1, "0 errors, 0 warnings, 1 info"},
		{1, 1, 1, "1 error, 1 warning, 1 info"},
		{2, 11, 21, "2 errors, 11 warnings, 21 infos"},
	}
	for _, tt := range tests {
		if got := Counts(tt.e, tt.w, tt.i); got != tt.want {
			t.Errorf("Counts(%d, %d, %d) = %q, want %q", tt.e, tt.w, tt.i, got, tt.want)
		}
	}
}

// TestSeverityJSON: a severity reads from its name only; anything else
// is refused in the document's words, not encoding/json's Go types.
func TestSeverityJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    Severity
		wantErr string
	}{
		{`"error"`, Error, ""},
		{`"Warning"`, Warning, ""},
		{`"info"`, Info, ""},
		{`3`, 0, "severity: want a string: info, warning or error"},
		{`["error"]`, 0, "severity: want a string: info, warning or error"},
		{`"huge"`, 0, `unknown severity "huge" (want info, warning or error)`},
	}
	for _, tt := range tests {
		var f struct {
			Severity Severity `json:"severity"`
		}
		err := json.Unmarshal([]byte(`{"severity": `+tt.in+`}`), &f)
		switch {
		case tt.wantErr == "" && (err != nil || f.Severity != tt.want):
			t.Errorf("%s: %v, %v; want %v", tt.in, f.Severity, err, tt.want)
		case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
			t.Errorf("%s: error %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}
