package weights

import (
	"context"
	"os"
	"strings"
	"testing"
)

// Every error about an unreadable weights.lock says what to run, and doing
// what it says works: `weights import` itself refuses a lock it cannot
// read, so "re-run the import" alone would go round in circles.
func TestLockErrorsAdviseACommandThatWorks(t *testing.T) {
	edits := map[string]func(string) string{
		"syntax error":    func(s string) string { return strings.Replace(s, `"version": 1,`, `"version": 1,,`, 1) },
		"truncated":       func(s string) string { return s[:len(s)/2] },
		"string size":     func(s string) string { return strings.Replace(s, `"size": 1,`, `"size": "1",`, 1) },
		"unknown key":     func(s string) string { return strings.Replace(s, `"version": 1,`, `"version": 1, "extra": true,`, 1) },
		"duplicate key":   func(s string) string { return strings.Replace(s, `"version": 1,`, `"version": 1, "version": 1,`, 1) },
		"not an object":   func(string) string { return `[1]` },
		"version 2":       func(s string) string { return strings.Replace(s, `"version": 1,`, `"version": 2,`, 1) },
		"february 2026":   func(string) string { return `{"version": "1", "created": "2026-02-01T00:00:00Z", "files": []}` },
		"missing digest":  func(s string) string { return strings.Replace(s, `"setDigest": `, `"x-setDigest": `, 1) },
		"bad imported at": func(s string) string { return strings.Replace(s, `"importedAt": "2026`, `"importedAt": "x2026`, 1) },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			p := newProject(t, map[string]string{"a.bin": "a"})
			p.imp(t, nil)
			_, good := p.lock(t)
			bad := edit(string(good))
			if bad == string(good) {
				t.Fatal("the edit changed nothing")
			}
			os.WriteFile(p.lockPath(), []byte(bad), 0o644)
			_, err := Import(context.Background(), p.importOpts())
			if err == nil {
				t.Fatal("import accepted the lock")
			}
			msg := err.Error()
			if strings.Contains(msg, "re-run cog-frontend weights import") {
				t.Errorf("advises re-running the import that just refused it: %s", msg)
			}
			if !strings.Contains(msg, "delete it and run `cog-frontend weights import`") {
				t.Errorf("does not say what to run: %s", msg)
			}
			// Doing what it says.
			os.Remove(p.lockPath())
			p.imp(t, nil)
		})
	}
}
