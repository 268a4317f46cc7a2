// Command modproxy publishes modules of this repository at a test version
// into a directory laid out as a GOPROXY (<module>/@v/list, .info, .mod,
// .zip), so that a scratch module can `go get` them with
// GOPROXY=file:///that/dir exactly as users will once the version is tagged.
//
//	go run . -out /tmp/proxy -version v0.1.0 /path/to/repo /path/to/repo/redisstore
//
// A module's zip holds the files git knows in its directory (tracked, or
// untracked and not ignored) with their working-tree contents, minus nested
// modules, as the module proxy would serve them from a tag.
//
// It refuses a module whose go.mod has a replace directive or requires one of
// the other published modules at a version other than -version: published,
// such a module would not resolve for users.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func main() {
	out := flag.String("out", "", "proxy directory to write (required)")
	version := flag.String("version", "v0.1.0", "version to publish every module at")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: modproxy -out DIR [-version vX.Y.Z] MODULE_DIR...")
		os.Exit(2)
	}
	paths := map[string]bool{}
	for _, dir := range flag.Args() {
		gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			fmt.Fprintf(os.Stderr, "modproxy: %v\n", err)
			os.Exit(1)
		}
		paths[modfile.ModulePath(gomod)] = true
	}
	for _, dir := range flag.Args() {
		if err := check(dir, *version, paths); err != nil {
			fmt.Fprintf(os.Stderr, "modproxy: %s: %v\n", dir, err)
			os.Exit(1)
		}
	}
	for _, dir := range flag.Args() {
		if err := publish(*out, *version, dir); err != nil {
			fmt.Fprintf(os.Stderr, "modproxy: %s: %v\n", dir, err)
			os.Exit(1)
		}
	}
}

// check refuses a go.mod that would not resolve once published: a replace
// directive (ignored in a dependency, so it only hides a bad requirement), or a
// requirement on one of the published modules at another version.
func check(dir, version string, published map[string]bool) error {
	name := filepath.Join(dir, "go.mod")
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	gomod, err := modfile.Parse(name, data, nil)
	if err != nil {
		return err
	}
	for _, r := range gomod.Replace {
		return fmt.Errorf("go.mod replaces %s: nested modules must require a published version", r.Old.Path)
	}
	for _, r := range gomod.Require {
		if published[r.Mod.Path] && r.Mod.Version != version {
			return fmt.Errorf("go.mod requires %s %s, want %s (the version being released)", r.Mod.Path, r.Mod.Version, version)
		}
	}
	return nil
}

func publish(out, version, dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	modPath := modfile.ModulePath(gomod)
	if modPath == "" {
		return errors.New("go.mod has no module line")
	}
	modVersion := module.Version{Path: modPath, Version: version}
	if err := module.Check(modVersion.Path, modVersion.Version); err != nil {
		return err
	}
	escaped, err := module.EscapePath(modPath)
	if err != nil {
		return err
	}
	vdir := filepath.Join(out, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil { //nolint:gosec // out is the caller's; the module path passed module.Check
		return err
	}
	files, err := moduleFiles(dir)
	if err != nil {
		return err
	}
	var zipBuf bytes.Buffer
	if err := modzip.Create(&zipBuf, modVersion, files); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string    `json:"Version"` //nolint:tagliatelle // the GOPROXY protocol's .info names
		Time    time.Time `json:"Time"`    //nolint:tagliatelle // the GOPROXY protocol's .info names
	}{version, time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	writes := map[string][]byte{
		version + ".mod":  gomod,
		version + ".info": info,
		version + ".zip":  zipBuf.Bytes(),
		"list":            []byte(version + "\n"),
	}
	for name, data := range writes {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil { //nolint:gosec // a proxy directory is meant to be read by the go command of any user
			return err
		}
	}
	fmt.Printf("published %s@%s (%d files)\n", modPath, version, len(files))
	return nil
}

// moduleFiles lists the files git knows under dir, leaving out nested modules.
func moduleFiles(dir string) ([]modzip.File, error) {
	cmd := exec.CommandContext(context.Background(), "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ".")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	listing, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	var names []string
	nested := map[string]bool{}
	for name := range strings.SplitSeq(string(listing), "\x00") {
		if name == "" {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			continue // deleted in the working tree
		}
		if path.Base(name) == "go.mod" && path.Dir(name) != "." {
			nested[path.Dir(name)] = true
		}
		names = append(names, name)
	}
	var files []modzip.File
	for _, name := range names {
		if inNested(name, nested) {
			continue
		}
		files = append(files, diskFile{dir: dir, name: name})
	}
	return files, nil
}

func inNested(name string, nested map[string]bool) bool {
	for d := path.Dir(name); d != "."; d = path.Dir(d) {
		if nested[d] {
			return true
		}
	}
	return false
}

type diskFile struct{ dir, name string }

func (f diskFile) Path() string { return f.name }

func (f diskFile) Lstat() (os.FileInfo, error) { return os.Lstat(filepath.Join(f.dir, f.name)) }

func (f diskFile) Open() (io.ReadCloser, error) { return os.Open(filepath.Join(f.dir, f.name)) }
