package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// goLeak matches what a message must not hold: a Go type or package
// qualified name (pack.releaseFile, *check.ackFile, []string), YAML's
// internal tags, fmt's verbs gone wrong, encoding/json's wording.
var goLeak = regexp.MustCompile(`\b(main|pack|check|release|deploy|sim|klp|elfscan|order|build|capture|hookabi|modsign|safeio|sysfs|yaml|json|x509|rsa|ecdsa|ed25519)\.[A-Za-z_]\w*\b|!!(seq|map|str|int)|%!|cannot unmarshal|Go (struct|value)|\[\](string|int|byte)|map\[`)

// TestMisplacedFiles gives every flag and argument that names a file
// one that is empty, a directory, a module (ELF) where a document goes,
// and a JSON array where an object goes. klpack refuses each with exit 2,
// names the file, says "empty" for the empty one, and speaks of the file,
// never of Go types.
func TestMisplacedFiles(t *testing.T) {
	klpack, _, ko, dir, key, cert, _ := fileArgFixture(t)
	// Named as their flag expects, so that an extension decides nothing.
	inputs := map[string]string{
		"empty": "",
		"elf":   "elf",
		"array": "[1, 2]\n",
		"dir":   "",
	}

	// X stands for the misplaced file; doc marks the inputs that are a
	// document (an ELF file is refused there), ext the name it gets.
	surfaces := []struct {
		args []string
		ext  string
		doc  bool
	}{
		{[]string{"check", "--deployed", "X", ko}, ".json", true},
		{[]string{"check", "--ack", "X", ko}, ".yaml", true},
		{[]string{"check", "--symbols", "X", ko}, ".map", true},
		{[]string{"check", "--filter-functions", "X", ko}, ".txt", true},
		{[]string{"check", "--kernel-config", "X", ko}, ".config", true},
		{[]string{"check", "--vmlinux-btf", "X", ko}, "", false},
		{[]string{"check", "X"}, ".json", true},
		{[]string{"check", "X"}, ".ko", false},
		{[]string{"check", "-f", "X"}, ".yaml", true},
		{[]string{"plan", "--deployed", "X", ko}, ".json", true},
		{[]string{"plan", "X"}, ".json", true},
		{[]string{"plan", "X"}, ".ko", false},
		{[]string{"simulate", "X"}, ".yaml", true},
		{[]string{"deploy", "show", "X"}, ".json", true},
		{[]string{"package", "-o", filepath.Join(dir, "out"), "X"}, ".yaml", true},
		{[]string{"release", "--snapshot", "-o", filepath.Join(dir, "out"), "-f", "X"}, ".yaml", true},
		{[]string{"hooks", "build", "-o", filepath.Join(dir, "out"), "X"}, ".json", true},
		{[]string{"hooks", "build", "-o", filepath.Join(dir, "out"), "X"}, ".ko", false},
		{[]string{"scan", "X"}, ".ko", false},
		{[]string{"sign", "--key", key, "--cert", cert, "-o", filepath.Join(dir, "out.ko"), "X"}, ".ko", false},
	}
	for _, s := range surfaces {
		for kind, content := range inputs {
			if kind == "elf" && !s.doc || kind == "array" && !s.doc {
				continue // a module where a module goes; an array is not ELF either way
			}
			name := strings.Join(s.args, " ") + " " + s.ext + " " + kind
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "input"+s.ext)
				switch kind {
				case "dir":
					if err := os.Mkdir(path, 0o755); err != nil {
						t.Fatal(err)
					}
				case "elf":
					copyFile(t, ko, path)
				default:
					if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				args := withFile(s.args, path)
				ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, klpack, args...)
				cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
				out, err := cmd.CombinedOutput()
				msg := string(out)
				if code := cmd.ProcessState.ExitCode(); err == nil || code != 2 {
					t.Fatalf("klpack %s: exit %d, want 2:\n%s", strings.Join(args, " "), code, msg)
				}
				if !strings.Contains(msg, path) {
					t.Errorf("the error does not name %s:\n%s", path, msg)
				}
				if kind == "empty" && !strings.Contains(msg, "empty") {
					t.Errorf("an empty file, not said:\n%s", msg)
				}
				if m := goLeak.FindString(msg); m != "" {
					t.Errorf("the error speaks Go (%q):\n%s", m, msg)
				}
			})
		}
	}
}
