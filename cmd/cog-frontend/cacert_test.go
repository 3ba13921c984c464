package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/internal/testcert"
)

// TestCACertArgForms: COG_CA_CERT as a file, a directory (*.crt and *.pem
// in name order, other files ignored), PEM text and base64 of PEM all give
// the frontend PEM; --build-arg COG_CA_CERT wins over the environment.
func TestCACertArgForms(t *testing.T) {
	a, b := testcert.SelfSignedCA(t, "a"), testcert.SelfSignedCA(t, "b")
	dir := t.TempDir()
	for name, dt := range map[string][]byte{"1-a.crt": a, "2-b.pem": b, "notes.txt": []byte("not a cert")} {
		if err := os.WriteFile(filepath.Join(dir, name), dt, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "1-a.crt")
	for name, tc := range map[string]struct {
		env, arg string
		want     string
	}{
		"unset":             {want: ""},
		"file":              {env: file, want: string(a)},
		"directory":         {env: dir, want: string(a) + string(b)},
		"pem":               {env: string(b), want: string(b)},
		"base64":            {env: base64.StdEncoding.EncodeToString(a), want: string(a)},
		"build arg wins":    {env: file, arg: string(b), want: string(b)},
		"build arg is path": {arg: dir, want: string(a) + string(b)},
	} {
		t.Setenv("COG_CA_CERT", tc.env)
		args := map[string]string{}
		if tc.arg != "" {
			args["COG_CA_CERT"] = tc.arg
		}
		got, err := caCertArg(args)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", name, got, err, tc.want)
		}
	}
}

func TestCACertArgErrorsSayWhatIsWrong(t *testing.T) {
	empty := t.TempDir()
	key := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(key, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]string{
		"/does/not/exist.crt": "COG_CA_CERT: stat /does/not/exist.crt",
		empty:                 "has no *.crt or *.pem file",
		key:                   `file ` + key + `: PEM block 1 is "PRIVATE KEY"`,
		"hello":               "neither PEM",
	} {
		t.Setenv("COG_CA_CERT", v)
		_, err := caCertArg(nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("COG_CA_CERT=%s: err = %v, want %q", v, err, want)
		}
	}
}
