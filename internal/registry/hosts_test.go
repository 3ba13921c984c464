package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/cog-frontend/cog-frontend/internal/registry/registrytest"
)

func TestHostsPlainHTTPOnlyWhereAllowed(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "10.0.0.9:5000"), 0o755)
	os.WriteFile(filepath.Join(dir, "10.0.0.9:5000", "hosts.toml"), []byte("server = \"http://10.0.0.9:5000\"\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "reg.example:443"), 0o755)
	os.WriteFile(filepath.Join(dir, "reg.example:443", "hosts.toml"), []byte("[host.\"http://reg.example:443\"]\n  capabilities = [\"pull\"]\n"), 0o644)
	h := &Hosts{CertsDirs: []string{dir}, Insecure: []string{"10.0.0.8:5000"}}
	for host, want := range map[string]bool{
		"127.0.0.1:5001": true, "localhost:5000": true, "[::1]:5000": true,
		"10.0.0.8:5000": true, "10.0.0.9:5000": true, "reg.example:443": true,
		"10.0.0.7:5000": false, "192.168.1.2": false, "registry.example.com": false,
	} {
		if got := h.PlainHTTP(host); got != want {
			t.Errorf("PlainHTTP(%s) = %v, want %v", host, got, want)
		}
	}
	if h.Scheme("10.0.0.7:5000") != "https" || h.Scheme("127.0.0.1:1") != "http" {
		t.Errorf("schemes")
	}
	if !(&Hosts{AllowPlainHTTP: true}).PlainHTTP("registry.example.com") {
		t.Errorf("--insecure does not allow plain HTTP")
	}
	bad := filepath.Join(dir, "bad:1")
	os.MkdirAll(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "hosts.toml"), []byte("server = [[["), 0o644)
	if _, err := h.Transport(nil).RoundTrip(httptest.NewRequest(http.MethodGet, "https://bad:1/v2/", nil)); err == nil || !strings.Contains(err.Error(), "hosts.toml") {
		t.Errorf("a broken hosts.toml: %v", err)
	}
}

func writeCA(t *testing.T, path string, c *x509.Certificate) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHostsTrustCertsDAndHostsTOMLAndSayWhyNot(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	get := func(h *Hosts) error {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
		resp, err := h.Transport(DefaultTransport()).RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	err := get(&Hosts{CertsDirs: []string{t.TempDir()}})
	var te *TLSError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "unknown certificate authority") || !strings.Contains(err.Error(), "SSL_CERT_FILE") || Retryable(err) {
		t.Errorf("untrusted: %v", err)
	}
	dir := t.TempDir()
	writeCA(t, filepath.Join(dir, host, "ca.crt"), srv.Certificate())
	if err := get(&Hosts{CertsDirs: []string{dir}}); err != nil {
		t.Errorf("certs.d/%s/ca.crt: %v", host, err)
	}
	dir2 := t.TempDir()
	writeCA(t, filepath.Join(dir2, "my-ca.pem"), srv.Certificate())
	os.MkdirAll(filepath.Join(dir2, host), 0o755)
	os.WriteFile(filepath.Join(dir2, host, "hosts.toml"), []byte(fmt.Sprintf("[host.\"https://%s\"]\n  ca = [%q]\n", host, filepath.Join(dir2, "my-ca.pem"))), 0o644)
	if err := get(&Hosts{CertsDirs: []string{dir2}}); err != nil {
		t.Errorf("hosts.toml ca: %v", err)
	}
	dir3 := t.TempDir()
	os.MkdirAll(filepath.Join(dir3, host), 0o755)
	os.WriteFile(filepath.Join(dir3, host, "hosts.toml"), []byte("skip_verify = true\n"), 0o644)
	if err := get(&Hosts{CertsDirs: []string{dir3}}); err != nil {
		t.Errorf("hosts.toml skip_verify: %v", err)
	}
	dir4 := t.TempDir()
	os.MkdirAll(filepath.Join(dir4, host), 0o755)
	os.WriteFile(filepath.Join(dir4, host, "ca.crt"), []byte("not a certificate"), 0o644)
	if err := get(&Hosts{CertsDirs: []string{dir4}}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a broken ca.crt: %v", err)
	}
}

func TestExplainTLSSaysWhich(t *testing.T) {
	h := &Hosts{CertsDirs: []string{"/x/certs.d"}}
	c := &hostConfig{caFiles: []string{"/x/ca.crt"}}
	cert := &x509.Certificate{DNSNames: []string{"other.example"}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{x509.UnknownAuthorityError{}, "unknown certificate authority (trusted for it besides the system store: /x/ca.crt)"},
		{x509.HostnameError{Certificate: cert, Host: "10.1.1.1"}, "another host name (other.example), not 10.1.1.1"},
		{x509.CertificateInvalidError{Reason: x509.Expired}, "expired"},
		{x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign}, "not valid for a TLS server"},
		{tls.RecordHeaderError{RecordHeader: [5]byte{'H', 'T', 'T', 'P', '/'}}, "answers plain HTTP"},
	} {
		err := h.explainTLS("h:1", c, tc.err)
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "TLS with h:1") {
			t.Errorf("%T: %v", tc.err, err)
		}
		if again := h.explainTLS("h:1", c, err); again != err {
			t.Errorf("explained twice")
		}
	}
	if err := errors.New("other"); h.explainTLS("h", c, err) != err {
		t.Errorf("unrelated errors are kept")
	}
	if hostnames(nil) != "unknown names" || hostnames(&x509.Certificate{}) != "" {
		t.Errorf("hostnames")
	}
	if len(DefaultCertsDirs()) < 3 {
		t.Errorf("DefaultCertsDirs: %v", DefaultCertsDirs())
	}
}

func TestCheckAndAuthErrorsNameTheRegistryAndTheFix(t *testing.T) {
	reg := registrytest.New()
	deny := false
	reg.Before = func(w http.ResponseWriter, r *http.Request) bool {
		if deny && r.URL.Path != "/v2/" {
			registrytest.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return true
		}
		return false
	}
	f := newFixture(t, reg, nil)
	for _, a := range []Access{Pull, Push} {
		if err := f.c.Repo(f.repo, a).Check(context.Background()); err != nil {
			t.Errorf("Check(%v): %v", a, err)
		}
	}
	deny = true
	err := f.c.Repo(f.repo, Push).Check(context.Background())
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "registry "+f.repo.RegistryStr()+" refused push access to acct/model") ||
		!strings.Contains(err.Error(), "docker login "+f.repo.RegistryStr()) || !Denied(err) || Retryable(err) {
		t.Errorf("denied Check: %v", err)
	}
	c := &Client{Keychain: keychain{authn.FromConfig(authn.AuthConfig{Username: "u", Password: "p"})}}
	if got := c.Repo(f.repo, Pull).credsFor(); got != "the credentials of user u" {
		t.Errorf("credsFor = %q", got)
	}
	if err := c.Explain(f.repo, Pull, errors.New("x")); err.Error() != "x" {
		t.Errorf("Explain changed an unrelated error")
	}
	t.Setenv("DOCKER_CONFIG", "/cfg")
	if DockerConfigFile() != "/cfg/config.json" {
		t.Errorf("DockerConfigFile = %s", DockerConfigFile())
	}
}

func TestOnceBodyIsNotResentAfterPartOfItWent(t *testing.T) {
	o := &onceBody{r: strings.NewReader("abcdef")}
	o.Close()
	b := make([]byte, 3)
	if n, err := o.Read(b); n != 3 || err != nil {
		t.Fatalf("unread body after close: %d %v", n, err)
	}
	o.Close()
	if _, err := o.Read(b); !errors.Is(err, errBodyResent) {
		t.Errorf("partly sent body read again: %v", err)
	}
}
