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
		schema := ""
		switch {
		case d.Name() == "klpack.yaml":
			schema = "klpack-yaml-v1.schema.json"
		case filepath.Base(filepath.Dir(path)) == "scenarios" && ext != ".json":
			// Scenarios name no schema: they are known by their place.
			schema = "scenario.schema.json"
		}
		checkDocument(t, rel, b, schema, seen)
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
		rel, _ := filepath.Rel(root, s)
		fed := accepted(a.Comment)
		for _, f := range a.Files {
			switch {
			case filepath.Base(f.Name) == "klpack.yaml":
				checkDocument(t, rel+":"+f.Name, f.Data, "klpack-yaml-v1.schema.json", seen)
			case fed[f.Name] != "":
				checkDocument(t, rel+":"+f.Name, f.Data, fed[f.Name], seen)
			}
		}
	}
	// The walk must have found what testdata holds today: a walk that
	// silently finds nothing would prove nothing.
	for schema, atLeast := range map[string]int{"deployed-v1.schema.json": 4, "scan-v1.schema.json": 3, "plan-v1.schema.json": 1,
		"release-v1.schema.json": 4, "klpack-yaml-v1.schema.json": 2, "scenario.schema.json": 10, "acks.schema.json": 2} {
		if seen[schema] < atLeast {
			t.Errorf("found %d committed documents of %s, want at least %d", seen[schema], schema, atLeast)
		}
	}
}

// scriptInputs maps the flags of klpack commands in CLI scripts to the
// schema of the file they name.
var scriptInputs = map[string]string{"--ack": "acks.schema.json", "--deployed": "deployed-v1.schema.json"}

// accepted returns the script's files that a klpack command it expects to
// accept its input (exec, or exitcode 0 or 1) reads through one of
// scriptInputs, with their schemas.
func accepted(script []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(script), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 1 && f[0] == "exec" && f[1] == "klpack":
		case len(f) > 2 && f[0] == "exitcode" && (f[1] == "0" || f[1] == "1") && f[2] == "klpack":
		default:
			continue
		}
		for i := 0; i+1 < len(f); i++ {
			if schema, ok := scriptInputs[f[i]]; ok {
				out[f[i+1]] = schema
			}
		}
	}
	return out
}

// checkDocument validates one committed document against schema, or,
// when schema is "", against the one its "schema" key names.
func checkDocument(t *testing.T, name string, data []byte, schema string, seen map[string]int) {
	t.Helper()
	doc := data
	if !strings.HasSuffix(name, ".json") {
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			if schema != "" {
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
	if schema == "" {
		if schema = schemaFor[head.Schema]; schema == "" {
			return
		}
	}
	seen[schema]++
	t.Run(name, func(t *testing.T) {
		if err := validate(t, schema, doc); err != nil {
			t.Errorf("%s does not match %s: %v", name, schema, err)
		}
	})
}
