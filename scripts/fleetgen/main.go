// Command fleetgen writes a fleet inventory and the package manifests it
// resolves through, for the fleet benchmark (scripts/bench-fleet.sh):
// -hosts hosts over 10 cumulative releases × -offband subsets of eight
// off-band packages, on one kernel. The manifests are the testdata
// release's, one per version and package, renamed.
//
//	go run ./scripts/fleetgen -hosts 1000000 -out DIR
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

const kernel = "6.1.0-56-amd64"

func main() {
	hosts := flag.Int("hosts", 1_000_000, "hosts in the inventory")
	subsets := flag.Int("offband", 200, "off-band subsets per cumulative release (at most 256)")
	src := flag.String("manifests", "testdata/fleet/manifests/1.0-1", "the testdata release's manifests, the templates")
	out := flag.String("out", "", "output directory: inventory.jsonl and manifests/")
	flag.Parse()
	if err := run(*hosts, *subsets, *src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "fleetgen:", err)
		os.Exit(1)
	}
}

func run(hosts, subsets int, src, out string) error {
	if out == "" || subsets < 1 || subsets > 256 {
		return fmt.Errorf("need -out and 1 <= -offband <= 256")
	}
	cum, err := template(filepath.Join(src, "klp-patch-"+kernel+"_1.0-1.manifest.json"))
	if err != nil {
		return err
	}
	ob, err := template(filepath.Join(src, "klp-patch-"+kernel+"-lp-noreplace_1.0-1.manifest.json"))
	if err != nil {
		return err
	}
	mdir := filepath.Join(out, "manifests")
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		return err
	}
	// Ten cumulative releases of lp_replace, 1.0-1 to 1.0-10.
	for v := 1; v <= 10; v++ {
		if err := write(mdir, cum, "klp-patch-"+kernel, "lp_replace", "1.0-"+strconv.Itoa(v)); err != nil {
			return err
		}
	}
	// Eight off-band fixes, each its own module and package.
	for k := range 8 {
		if err := write(mdir, ob, offbandPkg(k), offbandMod(k), "1.0-1"); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(out, "inventory.jsonl"))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	combos := 10 * subsets
	var line []byte
	for i := range hosts {
		c := (i * 7919) % combos // spread, with every combination met
		rel, set := c%10+1, c/10
		line = append(line[:0], `{"host":"host-`...)
		line = strconv.AppendInt(line, int64(i), 10)
		line = append(line, `","kernel":"`+kernel+`","build_id":"4f2c9a0d81e6b7c35e0a9f1d2b3c4d5e6f708192","patches":[`...)
		line = appendPatch(line, "lp_replace", "klp-patch-"+kernel, "1.0-"+strconv.Itoa(rel), 1)
		order := 2
		for k := range 8 {
			if set&(1<<k) != 0 {
				line = append(line, ',')
				line = appendPatch(line, offbandMod(k), offbandPkg(k), "1.0-1", order)
				order++
			}
		}
		line = append(line, "]}\n"...)
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func offbandMod(k int) string { return "lp_ob" + strconv.Itoa(k) }
func offbandPkg(k int) string { return "klp-patch-" + kernel + "-lp-ob" + strconv.Itoa(k) }

func appendPatch(b []byte, mod, pkg, version string, order int) []byte {
	b = append(b, `{"module":"`+mod+`","package":"`+pkg+`","version":"`+version+`","enabled":true,"transition":false,"load_order":`...)
	b = strconv.AppendInt(b, int64(order), 10)
	return append(b, '}')
}

func template(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// write writes the template as package pkg version of module mod.
func write(dir string, m map[string]any, pkg, mod, version string) error {
	m["package"] = map[string]any{"name": pkg, "version": version, "rpm_version": version, "deb_version": version}
	rec := m["module"].(map[string]any)
	rec["name"] = mod
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, pkg+"_"+version+".manifest.json"), b, 0o644)
}
