package schemas_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/check"
)

// TestRuleIDs: the rule IDs the check schema lists (and acknowledgements
// refer to) are exactly check.Rules', in ID order: a new rule is added
// to both.
func TestRuleIDs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.Root(), schemaDir, "check-v1.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Defs struct {
			RuleID struct {
				Enum []string `json:"enum"`
			} `json:"ruleId"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range check.Rules {
		want = append(want, r.ID)
	}
	slices.Sort(want)
	if !slices.Equal(doc.Defs.RuleID.Enum, want) {
		t.Errorf("check-v1.schema.json ruleId enum = %v, want check.Rules' %v", doc.Defs.RuleID.Enum, want)
	}
}
