package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is klpack's version when a release build sets it at link time
// (-ldflags '-X main.version=v1.2.3'); otherwise the module version from
// the build info, else "devel".
var version string

// versionSchema names the version of klpack version --json's document.
const versionSchema = "klpack.version/v1"

// buildVersion is what klpack version prints; SARIF logs name the same
// version.
type buildVersion struct {
	Schema  string `json:"schema"`
	Version string `json:"version"`
	// Commit is the VCS revision the binary was built from, empty when
	// the build recorded none (go test, a source tarball, -buildvcs=false).
	Commit string `json:"commit"`
	// Modified: the work tree had changes the commit does not hold.
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
}

// readVersion reads the running binary's build information.
func readVersion() buildVersion {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(bi, version)
}

// versionOf is readVersion over given build information (nil when the
// binary has none) and link-time version.
func versionOf(bi *debug.BuildInfo, linked string) buildVersion {
	v := buildVersion{Schema: versionSchema, Version: linked, Go: runtime.Version()}
	if bi == nil {
		if v.Version == "" {
			v.Version = "devel"
		}
		return v
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	// go build of a checkout says "(devel)"; go install of a tag says
	// the tag.
	if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// commit is the revision as people write it: +dirty when the tree was
// modified, "unknown" when the build recorded none.
func (v buildVersion) commit() string {
	c := v.Commit
	if c == "" {
		c = "unknown"
	}
	if v.Modified {
		c += "+dirty"
	}
	return c
}

func (v buildVersion) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "klpack %s\ncommit %s\ngo     %s\n", v.Version, v.commit(), v.Go)
	return err
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print klpack's version, the commit it was built from and the Go that built it",
		Args:  positional(0, 0, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := readVersion()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			return v.writeText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the klpack.version/v1 JSON document")
	return cmd
}
