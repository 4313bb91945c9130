package schemas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/klpack/klpack/internal/testutil"
)

// schemaDir is where the schemas live, relative to the repository root.
const schemaDir = "docs/schemas"

// schemaBase is the $id every schema's name is joined to.
const schemaBase = "https://raw.githubusercontent.com/klpack/klpack/main/docs/schemas/"

// sarifSchema names the vendored SARIF 2.1.0 schema in tables; sarifID
// is its own id, sarifSchemaFile where it is kept.
const (
	sarifSchema     = "sarif-2.1.0"
	sarifID         = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	sarifSchemaFile = "testdata/sarif/sarif-schema-2.1.0.json"
)

// schemaFor maps the "schema" value a document carries to the file that
// describes it; documents without one (reports) are named by the command
// table alone.
var schemaFor = map[string]string{
	"klpack.scan/v1":        "scan-v1.schema.json",
	"klpack.scan/v2":        "scan-v2.schema.json",
	"klpack.deployed/v1":    "deployed-v1.schema.json",
	"klpack.check/v1":       "check-v1.schema.json",
	"klpack.fleet-check/v1": "fleet-check-v1.schema.json",
	"klpack.plan/v1":        "plan-v1.schema.json",
	"klpack.simulate/v1":    "simulate-v1.schema.json",
	"klpack.package/v1":     "package-v1.schema.json",
	"klpack.release/v1":     "release-v1.schema.json",
	"klpack.version/v1":     "version-v1.schema.json",
	"klpack/v1":             "klpack-yaml-v1.schema.json",
}

// openBases are the object schemas that stay open because another schema
// extends them (a deployed patch is a scan record plus four keys); every
// document that holds one closes it with unevaluatedProperties.
var openBases = []string{"scan-v1.schema.json#/$defs/module"}

var (
	compileOnce sync.Once
	compiled    map[string]*jsonschema.Schema
	compileErr  error
)

// schemas compiles every file of docs/schemas once, each under its $id so
// that the relative $refs between them resolve without a network.
func schemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	compileOnce.Do(func() { compiled, compileErr = compileAll(filepath.Join(testutil.Root(), schemaDir)) })
	if compileErr != nil {
		t.Fatal(compileErr)
	}
	return compiled
}

func compileAll(dir string) (map[string]*jsonschema.Schema, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.schema.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no schemas in %s: %v", dir, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	for _, f := range files {
		doc, err := readJSON(f)
		if err != nil {
			return nil, err
		}
		if err := c.AddResource(schemaBase+filepath.Base(f), doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	// The OASIS SARIF schema (draft-04) is vendored as data; it is not
	// ours, so it lives in testdata and names itself by its own id.
	sarifDoc, err := readJSON(filepath.Join(dir, "..", "..", sarifSchemaFile))
	if err != nil {
		return nil, err
	}
	if err := c.AddResource(sarifID, sarifDoc); err != nil {
		return nil, err
	}
	s, err := c.Compile(sarifID)
	if err != nil {
		return nil, fmt.Errorf("compile the SARIF schema: %w", err)
	}
	out := map[string]*jsonschema.Schema{sarifSchema: s}
	for _, f := range files {
		name := filepath.Base(f)
		s, err := c.Compile(schemaBase + name)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
}

func readJSON(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// validate checks doc (JSON bytes) against the schema file name.
func validate(t *testing.T, name string, doc []byte) error {
	t.Helper()
	s, ok := schemas(t)[name]
	if !ok {
		t.Fatalf("no schema %s in %s", name, schemaDir)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(v)
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// klpack builds the command once per test binary, into a directory the
// process removes when it exits (TestMain).
func klpack(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "klpack-schemas-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		binary = filepath.Join(dir, "klpack")
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/klpack")
		cmd.Dir = testutil.Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/klpack: %v\n%s", err, out)
			return
		}
		buildErr = trackInputs()
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

var binDir string

// trackInputs opens every file the binary is built from and every file
// under testdata, which the binary reads: go test caches a result by
// the files the test itself opens, and would otherwise replay a pass
// after a change to cmd/klpack or to a fixture.
func trackInputs() error {
	root := testutil.Root()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "./cmd/klpack")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go list -deps ./cmd/klpack: %w", err)
	}
	var files []string
	for _, dir := range strings.Fields(string(out)) {
		m, _ := filepath.Glob(filepath.Join(dir, "*"))
		files = append(files, m...)
	}
	files = append(files, filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum"))
	err = filepath.WalkDir(filepath.Join(root, "testdata"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		if fh, err := os.Open(f); err == nil {
			fh.Close()
		}
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// run runs klpack with args in dir and returns stdout, stderr and the exit
// code.
func run(t *testing.T, dir string, env []string, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	return runProgram(t, dir, env, klpack(t), args...)
}

// runProgram runs a program with args in dir, env added to the
// process's, and returns stdout, stderr and the exit code.
func runProgram(t *testing.T, dir string, env []string, prog string, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "SOURCE_DATE_EPOCH=1700000000")
	cmd.Env = append(cmd.Env, env...)
	err := cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return o.Bytes(), e.Bytes(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s %s: %v", prog, strings.Join(args, " "), err)
	}
	return o.Bytes(), e.Bytes(), 0
}

// TestSchemasCompile: every schema compiles as draft 2020-12, names
// itself by its file, and says what each of its keys means; a key listed
// as required exists; every object is closed unless another schema
// extends it.
func TestSchemasCompile(t *testing.T) {
	all := schemas(t)
	files, _ := filepath.Glob(filepath.Join(testutil.Root(), schemaDir, "*.schema.json"))
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			if all[name] == nil {
				t.Fatalf("%s did not compile", name)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if got := doc["$schema"]; got != "https://json-schema.org/draft/2020-12/schema" {
				t.Errorf("$schema = %v, want draft 2020-12", got)
			}
			if got := doc["$id"]; got != schemaBase+name {
				t.Errorf("$id = %v, want %s", got, schemaBase+name)
			}
			for _, k := range []string{"title", "description"} {
				if s, _ := doc[k].(string); s == "" {
					t.Errorf("no %s", k)
				}
			}
			lint(t, name, "#", doc)
		})
	}
}

// lint walks a schema: each property has a description (or is a $ref to
// a described definition), each required key is a property, and each
// object with properties is closed unless it is an open base.
func lint(t *testing.T, file, at string, node any) {
	t.Helper()
	switch n := node.(type) {
	case []any:
		for i, v := range n {
			lint(t, file, fmt.Sprintf("%s/%d", at, i), v)
		}
	case map[string]any:
		props, hasProps := n["properties"].(map[string]any)
		if hasProps {
			for k, p := range props {
				pm, _ := p.(map[string]any)
				_, ref := pm["$ref"]
				_, allOf := pm["allOf"]
				if d, _ := pm["description"].(string); d == "" && !ref && !allOf {
					t.Errorf("%s: property %s has no description", at, k)
				}
			}
			closed := n["additionalProperties"] == false || n["unevaluatedProperties"] == false
			if !closed && !slices.Contains(openBases, file+at) {
				t.Errorf("%s: an object schema with properties is open: add additionalProperties false", at)
			}
		}
		if req, ok := n["required"].([]any); ok && hasProps {
			_, ref := n["$ref"]
			for _, r := range req {
				if _, ok := props[r.(string)]; !ok && !ref {
					t.Errorf("%s: required %v is no property", at, r)
				}
			}
		}
		for k, v := range n {
			// enum and const hold values; if and not describe what a
			// value is tested for, not its shape.
			if k == "enum" || k == "const" || k == "if" || k == "not" {
				continue
			}
			lint(t, file, at+"/"+k, v)
		}
	}
}
