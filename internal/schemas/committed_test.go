package schemas_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/testutil"
)

// TestCommittedDocuments: every JSON or YAML document committed under the
// repository's testdata that names a schema klpack has ("schema": ...)
// validates against it, and so does every klpack.yaml, those the CLI
// scripts carry included (klpack.yaml may leave its schema key out).
func TestCommittedDocuments(t *testing.T) {
	root := testutil.Root()
	seen := map[string]int{}
	err := filepath.WalkDir(filepath.Join(root, "testdata"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ext := filepath.Ext(path)
		if d.IsDir() || (ext != ".json" && ext != ".yaml" && ext != ".yml") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		checkDocument(t, rel, b, d.Name() == "klpack.yaml", seen)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	scripts, _ := filepath.Glob(filepath.Join(root, "cmd/klpack/testdata/script/*.txtar"))
	for _, s := range scripts {
		a, err := txtar.ParseFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range a.Files {
			if filepath.Base(f.Name) == "klpack.yaml" {
				rel, _ := filepath.Rel(root, s)
				checkDocument(t, rel+":"+f.Name, f.Data, true, seen)
			}
		}
	}
	// The walk must have found what testdata holds today: a walk that
	// silently finds nothing would prove nothing.
	for schema, atLeast := range map[string]int{"deployed-v1.schema.json": 4, "scan-v1.schema.json": 3, "plan-v1.schema.json": 1,
		"release-v1.schema.json": 4, "klpack-yaml-v1.schema.json": 2} {
		if seen[schema] < atLeast {
			t.Errorf("found %d committed documents of %s, want at least %d", seen[schema], schema, atLeast)
		}
	}
}

// checkDocument validates one committed document against the schema its
// "schema" key names (klpack.yaml: always its own).
func checkDocument(t *testing.T, name string, data []byte, isConfig bool, seen map[string]int) {
	t.Helper()
	doc := data
	if !strings.HasSuffix(name, ".json") {
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			if isConfig {
				t.Errorf("%s: %v", name, err)
			}
			return
		}
		if doc, _ = json.Marshal(v); doc == nil {
			return
		}
	}
	var head struct {
		Schema string `json:"schema"`
	}
	if json.Unmarshal(doc, &head) != nil {
		return
	}
	schema, ok := schemaFor[head.Schema]
	if isConfig {
		schema, ok = "klpack-yaml-v1.schema.json", true
	}
	if !ok {
		return
	}
	seen[schema]++
	t.Run(name, func(t *testing.T) {
		if err := validate(t, schema, doc); err != nil {
			t.Errorf("%s does not match %s: %v", name, schema, err)
		}
	})
}
