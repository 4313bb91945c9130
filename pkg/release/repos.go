package release

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klpack/klpack/pkg/pack"
	"github.com/klpack/klpack/pkg/repo"
)

// PublicKeyFile is where a signed release leaves the public key that hosts
// trust its repositories with (apt's signed-by=, dnf's gpgkey=).
const PublicKeyFile = "signing-key.asc"

// reposStage indexes deb/ and rpm/ as an apt and a dnf repository, this
// release's packages with those earlier releases left in the output
// directory, so that a fleet can still install (or go back to) them.
var reposStage = Stage{Name: "repos", Skip: never, Run: func(ctx context.Context, run *Run) (string, error) {
	r := run.Release
	formats := r.Config.Package.Formats
	has := func(f string) bool { return len(formats) == 0 || slices.Contains(formats, f) }
	var made []string
	if has(pack.FormatDeb) {
		if err := run.staging.LinkExisting("deb/pool", func(n string) bool { return strings.HasSuffix(n, ".deb") }); err != nil {
			return "", err
		}
		rc := r.Config.Repository
		o := repo.AptOptions{Suite: rc.Suite, Component: run.component(), Origin: rc.Origin, Label: rc.Label, Date: run.Opts.MTime}
		if !run.Opts.Snapshot {
			o.Sign = repo.Signer{Detached: run.signer.detach, Clear: run.signer.clear}
		}
		if _, err := repo.Apt(ctx, filepath.Join(run.Tree, "deb"), o); err != nil {
			return "", fmt.Errorf("apt repository: %w", err)
		}
		suite := rc.Suite
		if suite == "" {
			suite = "stable"
		}
		made = append(made, "apt (deb/dists/"+suite+")")
	}
	if has(pack.FormatRPM) {
		if err := run.staging.LinkExisting("rpm", func(n string) bool { return strings.HasSuffix(n, ".rpm") }); err != nil {
			return "", err
		}
		o := repo.YumOptions{Date: run.Opts.MTime}
		if !run.Opts.Snapshot {
			o.Sign = run.signer.detach
		}
		if _, err := repo.Yum(ctx, filepath.Join(run.Tree, "rpm"), o); err != nil {
			return "", fmt.Errorf("dnf repository: %w", err)
		}
		made = append(made, "dnf (rpm/repodata)")
	}
	if run.signer.public != nil {
		if err := run.publish(PublicKeyFile, run.signer.public); err != nil {
			return "", err
		}
	}
	return strings.Join(made, ", ") + signedNote(run), nil
}}

// checksumsStage lists in SHA256SUMS, signed, every package, plan and
// manifest the output directory holds once this release is in: earlier
// releases' too, so that the one signed list covers the whole directory.
var checksumsStage = Stage{Name: "checksums", Skip: never, Run: func(ctx context.Context, run *Run) (string, error) {
	for _, dir := range []string{"plans", "manifests"} {
		if err := run.staging.LinkExisting(dir, func(string) bool { return true }); err != nil {
			return "", err
		}
	}
	var files []string
	err := filepath.WalkDir(run.Tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, run.Tree+string(filepath.Separator)))
		top, _, _ := strings.Cut(rel, "/")
		if top == "plans" || top == "manifests" || strings.HasPrefix(rel, "deb/pool/") ||
			strings.HasPrefix(rel, "rpm/") && strings.HasSuffix(rel, ".rpm") {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	var sign pack.SignFunc
	if !run.Opts.Snapshot {
		sign = run.signer.detach
	}
	if _, err := repo.Checksums(ctx, run.Tree, files, sign); err != nil {
		return "", err
	}
	return fmt.Sprintf("SHA256SUMS of %d files", len(files)) + signedNote(run), nil
}}

func signedNote(run *Run) string {
	if run.Opts.Snapshot {
		return ", unsigned (--snapshot)"
	}
	return ", signed"
}
