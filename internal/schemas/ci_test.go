package schemas_test

import (
	"bytes"
	"crypto"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/testutil"
)

// ciCommands says what each klpack command of the CI templates must do
// on the testdata release: its exit code, and the files it must leave
// with the schema each matches ("" for any content). A command the
// templates gain needs a row here.
var ciCommands = []struct {
	prefix string
	exit   int
	files  map[string]string
}{
	{prefix: "klpack version", exit: 0},
	{prefix: "klpack check", exit: 0, files: map[string]string{"klpack.sarif": sarifSchema}},
	{prefix: "klpack release", exit: 0, files: map[string]string{
		"dist/SHA256SUMS": "", "dist/plans/*.plan.json": "plan-v1.schema.json", "dist/rpm/*.rpm": "", "dist/deb/pool/*/*/*/*.deb": ""}},
}

// TestCITemplates runs every klpack command of docs/ci's GitHub Actions
// workflow and GitLab CI file, as written, with the built klpack in a
// copy of the testdata release, the CI's variables set as the runner sets
// them: a renamed flag or a changed exit code breaks it. Then, with a
// deployed state that makes check fail, the gate sees exit 1 and the
// SARIF log is still there to upload.
func TestCITemplates(t *testing.T) {
	for _, file := range []string{"docs/ci/github-actions.yml", "docs/ci/gitlab-ci.yml"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cmds := klpackCommands(t, filepath.Join(testutil.Root(), file))
			for _, want := range []string{"klpack check", "klpack release"} {
				if !slices.ContainsFunc(cmds, func(c string) bool { return strings.HasPrefix(c, want+" ") }) {
					t.Fatalf("%s runs no %s", file, want)
				}
			}
			dir, env := ciRelease(t)
			for _, c := range cmds {
				i := slices.IndexFunc(ciCommands, func(r struct {
					prefix string
					exit   int
					files  map[string]string
				}) bool {
					return c == r.prefix || strings.HasPrefix(c, r.prefix+" ")
				})
				if i < 0 {
					t.Fatalf("%s runs %q: add a row to ciCommands", file, c)
				}
				row := ciCommands[i]
				t.Logf("$ %s", c)
				out, code := shell(t, dir, env, c)
				if code != row.exit {
					t.Fatalf("%s: %s: exit %d, want %d\n%s", file, c, code, row.exit, out)
				}
				for pattern, schema := range row.files {
					checkFiles(t, dir, pattern, schema, c)
				}
			}
			// The gate: findings fail the check with 1, and the log the
			// upload step reads is written all the same.
			state, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata/states/testdata-6.1.json"))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "states/deployed.json"), state)
			appendFile(t, filepath.Join(dir, "klpack.yaml"), "deployed: states/deployed.json\n")
			os.Remove(filepath.Join(dir, "klpack.sarif"))
			for _, c := range cmds {
				if !strings.HasPrefix(c, "klpack check ") {
					continue
				}
				if out, code := shell(t, dir, env, c); code != 1 {
					t.Fatalf("%s: %s over a release with findings: exit %d, want 1\n%s", file, c, code, out)
				}
				checkFiles(t, dir, "klpack.sarif", sarifSchema, c)
				checkSARIFURIs(t, filepath.Join(dir, "klpack.sarif"), dir, []string{"ko/6.1.0-56-amd64/lp_replace.ko", "ko/6.1.0-56-amd64/lp_noreplace.ko"})
			}
		})
	}
}

// klpackCommands returns every klpack command line of a CI file: each
// line of a run, script or before_script that starts with klpack, cut
// at the first unquoted shell operator or comment.
func klpackCommands(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var scripts []string
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch n := v.(type) {
		case map[string]any:
			for k, c := range n {
				walk(k, c)
			}
		case []any:
			for _, c := range n {
				walk(key, c)
			}
		case string:
			if key == "run" || key == "script" || key == "before_script" || key == "after_script" {
				scripts = append(scripts, n)
			}
		}
	}
	walk("", doc)
	var cmds []string
	for _, s := range scripts {
		for _, line := range strings.Split(strings.ReplaceAll(s, "\\\n", " "), "\n") {
			line = strings.TrimSpace(line)
			if line == "klpack" || strings.HasPrefix(line, "klpack ") {
				cmds = append(cmds, strings.TrimSpace(cutShell(line)))
			}
		}
	}
	if len(cmds) == 0 {
		t.Fatalf("%s: no klpack command", file)
	}
	return cmds
}

// cutShell cuts a command line at the first ||, &&, ;, | or # outside
// quotes: what follows is the CI's own handling of the exit code.
func cutShell(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == ';' || c == '|' || c == '&' || c == '#' && (i == 0 || s[i-1] == ' '):
			return s[:i]
		}
	}
	return s
}

// ciRelease copies the testdata release (klpack.yaml and its two
// modules) to a directory and returns it with the variables GitHub and
// GitLab runners set, a signing key where both templates expect one.
func ciRelease(t *testing.T) (string, []string) {
	t.Helper()
	root := testutil.Root()
	dir := t.TempDir()
	for _, f := range []string{"klpack.yaml", "ko/6.1.0-56-amd64/lp_replace.ko", "ko/6.1.0-56-amd64/lp_noreplace.ko"} {
		b, err := os.ReadFile(filepath.Join(root, "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, f), b)
	}
	runner := t.TempDir()
	key := signingKey(t)
	writeFile(t, filepath.Join(runner, "klpack-release.asc"), key)
	bin := filepath.Dir(klpack(t))
	return dir, []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"GITHUB_WORKSPACE=" + dir, "RUNNER_TEMP=" + runner,
		"CI_PROJECT_DIR=" + dir, "KLPACK_SIGNING_KEY=" + filepath.Join(runner, "klpack-release.asc"),
	}
}

// shell runs a command line as the runner's shell does.
func shell(t *testing.T, dir string, env []string, line string) ([]byte, int) {
	t.Helper()
	stdout, stderr, code := runProgram(t, dir, env, "sh", "-c", line)
	return append(stdout, stderr...), code
}

func checkFiles(t *testing.T, dir, pattern, schema, cmd string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) == 0 {
		t.Fatalf("%s left no %s", cmd, pattern)
	}
	if schema == "" {
		return
	}
	for _, f := range m {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, schema, b); err != nil {
			t.Errorf("%s: %s does not match %s: %v", cmd, f, schema, err)
		}
	}
}

// signingKey is a fresh unencrypted OpenPGP secret key, armored.
func signingKey(t *testing.T) []byte {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, DefaultHash: crypto.SHA256}
	ent, err := openpgp.NewEntity("klpack ci", "", "ci@klpack.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ent.SerializePrivate(w, cfg); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return b.Bytes()
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// checkSARIFURIs checks that a log's base is the workspace and that its
// results name the modules relative to it, as the hand-written want.
func checkSARIFURIs(t *testing.T, file, workspace string, want []string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Runs []struct {
			OriginalURIBaseIDs map[string]struct{ URI string } `json:"originalUriBaseIds"`
			Results            []struct {
				RelatedLocations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"relatedLocations"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI       string `json:"uri"`
							URIBaseID string `json:"uriBaseId"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &log); err != nil || len(log.Runs) != 1 {
		t.Fatalf("%s: %v", file, err)
	}
	if got := log.Runs[0].OriginalURIBaseIDs["SRCROOT"].URI; got != "file://"+workspace+"/" {
		t.Errorf("SRCROOT = %q, want file://%s/", got, workspace)
	}
	var got []string
	for _, r := range log.Runs[0].Results {
		for _, l := range r.Locations {
			a := l.PhysicalLocation.ArtifactLocation
			if a.URIBaseID != "SRCROOT" {
				t.Errorf("artifact %q has uriBaseId %q, want SRCROOT", a.URI, a.URIBaseID)
			}
			got = append(got, a.URI)
		}
		// testdata/klpack.yaml declares lp_replace on line 8 and
		// lp_noreplace on line 10.
		if len(r.RelatedLocations) != 1 || r.RelatedLocations[0].PhysicalLocation.ArtifactLocation.URI != "klpack.yaml" ||
			(r.RelatedLocations[0].PhysicalLocation.Region.StartLine != 8 && r.RelatedLocations[0].PhysicalLocation.Region.StartLine != 10) {
			t.Errorf("related locations %+v, want the line of klpack.yaml that declares the module", r.RelatedLocations)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("artifact URIs %q, want %q", got, want)
	}
}
