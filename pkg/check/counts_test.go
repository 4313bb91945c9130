package check

import "testing"

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
