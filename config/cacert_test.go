package config

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/internal/testcert"
)

func TestParseCACertAcceptsPEMAndBase64OfPEM(t *testing.T) {
	a, b := testcert.SelfSignedCA(t, "a"), testcert.SelfSignedCA(t, "b")
	bundle := "# comment a\n" + string(a) + "\n# comment b\n" + string(b)
	want := string(a) + string(b)
	for name, v := range map[string]string{
		"pem":          bundle,
		"pem, spaced":  "  \n" + bundle + "\n\n",
		"base64":       base64.StdEncoding.EncodeToString([]byte(bundle)),
		"base64 lines": base64.StdEncoding.EncodeToString([]byte(bundle))[:40] + "\n" + base64.StdEncoding.EncodeToString([]byte(bundle))[40:],
	} {
		got, err := ParseCACert(v)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s: got\n%s\nwant the two certificates without comments", name, got)
		}
	}
}

func TestParseCACertRefusesWhatIsNotACertificate(t *testing.T) {
	cert := string(testcert.SelfSignedCA(t, "a"))
	for name, tc := range map[string]struct{ v, want string }{
		"path":       {"/etc/ssl/ca.crt", "neither PEM"},
		"garbage":    {"hello", "neither PEM"},
		"base64 txt": {base64.StdEncoding.EncodeToString([]byte("hello")), "neither PEM"},
		"key":        {"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", `"PRIVATE KEY", not a CERTIFICATE`},
		"truncated":  {cert + "-----BEGIN CERTIFICATE-----\nMIIB\n", "PEM block 2 is incomplete"},
		"bad der":    {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate 1 does not parse"},
	} {
		_, err := ParseCACert(tc.v)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", name, err, tc.want)
		}
	}
}
