package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// malformedDir holds the corpus: one directory per case with the project's
// files, `cmd` (the command: "check" or "weights import") and `expect`
// (each non-empty line a substring the output must hold, the first
// naming file:line:col).
const malformedDir = "../../testdata/malformed"

var positionRE = regexp.MustCompile(`(cog\.yaml|weights\.lock|predict\.py|train\.py|requirements\.txt):\d+:\d+: `)

// TestMalformedCorpus runs every broken project of testdata/malformed
// through the command a user would run on it, as the binary does (same
// root command, same error printer), and checks that it fails, says where
// (file:line:col) and what, and leaves nothing behind: the project tree
// (weights.lock included) and the directory around it are byte for byte
// as before, and the content store holds no blob and no partial ingest.
func TestMalformedCorpus(t *testing.T) {
	ents, err := os.ReadDir(malformedDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) { runMalformed(t, filepath.Join(malformedDir, e.Name())) })
	}
	if n < 40 {
		t.Fatalf("the corpus has %d cases; it should cover at least 40", n)
	}
}

func runMalformed(t *testing.T, caseDir string) {
	cmdLine, err := os.ReadFile(filepath.Join(caseDir, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	expect, err := os.ReadFile(filepath.Join(caseDir, "expect"))
	if err != nil {
		t.Fatalf("%v (each case needs an expect file)", err)
	}
	var wants []string
	for _, l := range strings.Split(string(expect), "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			wants = append(wants, l)
		}
	}
	if len(wants) == 0 || !positionRE.MatchString(wants[0]) {
		t.Fatalf("expect's first line %q names no file:line:col", wants)
	}

	base := t.TempDir()
	proj := filepath.Join(base, "project")
	if err := os.CopyFS(proj, os.DirFS(caseDir)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cmd", "expect"} {
		if err := os.Remove(filepath.Join(proj, f)); err != nil {
			t.Fatal(err)
		}
	}
	cache := filepath.Join(base, "cache")
	t.Setenv("COG_CACHE_DIR", cache)
	before := snapshot(t, base)

	var args []string
	switch c := strings.TrimSpace(string(cmdLine)); c {
	case "check":
		args = []string{"check", proj}
	case "weights import":
		args = []string{"weights", "--project", proj, "-f", filepath.Join(proj, "cog.yaml"), "import"}
	default:
		t.Fatalf("cmd %q: want check or weights import", c)
	}
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	if err == nil {
		t.Fatalf("cog-frontend %s succeeded on a broken project:\n%s", strings.Join(args, " "), out.String())
	}
	if !errors.Is(err, errFindings) {
		printError(&out, err) // what main prints
	}
	got := strings.ReplaceAll(out.String(), proj+string(filepath.Separator), "")
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}

	after := snapshot(t, base)
	for _, p := range slices.Sorted(maps.Keys(after)) {
		if strings.HasPrefix(p, "cache/") || p == "cache" {
			continue
		}
		if before[p] != after[p] {
			t.Errorf("%s changed: %q -> %q", p, before[p], after[p])
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s removed", p)
		}
	}
	for p, v := range after {
		if (strings.HasPrefix(p, "cache/blobs/") || strings.HasPrefix(p, "cache/ingest/")) && !strings.HasPrefix(v, "dir") {
			t.Errorf("the content store holds %s", p)
		}
	}
}

// snapshot maps every path under dir to its type, mode, size and content
// digest.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			m[rel] = fmt.Sprintf("dir %v", fi.Mode())
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			m[rel] = fmt.Sprintf("file %v %d %s", fi.Mode(), len(b), hex.EncodeToString(s[:8]))
		default:
			m[rel] = fmt.Sprintf("other %v", fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
