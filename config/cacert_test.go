package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func testCertPEM(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestParseCACertAcceptsPEMAndBase64OfPEM(t *testing.T) {
	a, b := testCertPEM(t, "a"), testCertPEM(t, "b")
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
	cert := string(testCertPEM(t, "a"))
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
