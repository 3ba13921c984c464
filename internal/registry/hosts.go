package registry

// How each registry host is reached: which certificate authorities are
// trusted for it, and whether it may be spoken to over plain HTTP.
//
// go-containerregistry's transport does authentication well and is used for
// that, but it decides the scheme itself: name.Registry.Scheme() answers
// "http" for every RFC 1918 address, and its ping then races plain HTTP
// against HTTPS. A registry at 10.x or 192.168.x would silently be spoken
// to in the clear. Hosts sits under it, as the base transport, and turns
// every http:// request to a host not allowed plain HTTP back into https://,
// so the only ways to plain HTTP are a loopback host, --insecure (Insecure),
// or a hosts.toml that says so. It also gives each host its certs.d CAs,
// which go-containerregistry has no notion of.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"
)

// Hosts says how registry hosts are reached. The zero value uses
// DefaultCertsDirs and allows plain HTTP to loopback hosts only.
type Hosts struct {
	// Insecure lists hosts (host[:port], as in the reference) spoken to over
	// plain HTTP.
	Insecure []string
	// AllowPlainHTTP speaks plain HTTP to every host (the --insecure flag
	// of a command naming its registries). Never a default.
	AllowPlainHTTP bool
	// CertsDirs are searched for <dir>/<host>/: Docker's certs.d convention
	// (ca.crt and any *.crt are CAs; NAME.cert + NAME.key a client
	// certificate) and containerd's hosts.toml. nil means DefaultCertsDirs().
	CertsDirs []string

	mu    sync.Mutex
	hosts map[string]*hostConfig
}

// hostConfig is what Hosts found for one host.
type hostConfig struct {
	plainHTTP  bool
	tls        *tls.Config // nil: the system's trust store only
	caFiles    []string    // extra CAs, for messages
	skipVerify bool
	err        error
}

// DefaultCertsDirs are where certs.d folders are looked for, in this order:
// $DOCKER_CONFIG/certs.d (else ~/.docker/certs.d), rootless Docker's
// $XDG_CONFIG_HOME/docker/certs.d, /etc/docker/certs.d, and containerd's
// /etc/containerd/certs.d.
func DefaultCertsDirs() []string {
	var dirs []string
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		dirs = append(dirs, filepath.Join(d, "certs.d"))
	} else if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, ".docker", "certs.d"))
	}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		dirs = append(dirs, filepath.Join(x, "docker", "certs.d"))
	} else if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, ".config", "docker", "certs.d"))
	}
	return append(dirs, "/etc/docker/certs.d", "/etc/containerd/certs.d")
}

func (h *Hosts) dirs() []string {
	if h.CertsDirs != nil {
		return h.CertsDirs
	}
	return DefaultCertsDirs()
}

// PlainHTTP reports whether host is spoken to over plain HTTP: a loopback
// host, a host in Insecure, or one whose hosts.toml names an http:// server
// for itself.
func (h *Hosts) PlainHTTP(host string) bool {
	return h.config(host).plainHTTP
}

// Scheme is "http" for a PlainHTTP host, else "https".
func (h *Hosts) Scheme(host string) string {
	if h.PlainHTTP(host) {
		return "http"
	}
	return "https"
}

func (h *Hosts) config(host string) *hostConfig {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.hosts[host]; ok {
		return c
	}
	if h.hosts == nil {
		h.hosts = map[string]*hostConfig{}
	}
	c := h.load(host)
	h.hosts[host] = c
	return c
}

// hostEntryL is the part of containerd's hosts.toml this client reads: the
// server, and host entries for the registry itself (mirrors are not
// followed).
type hostEntryL struct {
	Server     string               `toml:"server"`
	CA         any                  `toml:"ca"`
	SkipVerify bool                 `toml:"skip_verify"`
	Host       map[string]hostEntry `toml:"host"`
}

type hostEntry struct {
	CA         any  `toml:"ca"`
	SkipVerify bool `toml:"skip_verify"`
}

func (h *Hosts) load(host string) *hostConfig {
	c := &hostConfig{plainHTTP: h.AllowPlainHTTP || IsLoopback(host) || slices.Contains(h.Insecure, host)}
	var cas []string
	var certs []tls.Certificate
	for _, dir := range h.dirs() {
		d := filepath.Join(dir, host)
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			switch {
			case strings.HasSuffix(e.Name(), ".crt"):
				cas = append(cas, p)
			case strings.HasSuffix(e.Name(), ".cert"):
				key := strings.TrimSuffix(p, ".cert") + ".key"
				pair, err := tls.LoadX509KeyPair(p, key)
				if err != nil {
					c.err = fmt.Errorf("client certificate %s for %s (with %s): %w", p, host, key, err)
					return c
				}
				certs = append(certs, pair)
			case e.Name() == "hosts.toml":
				ht, err := readHostsTOML(p)
				if err != nil {
					c.err = fmt.Errorf("%s: %w", p, err)
					return c
				}
				if plain, ok := ht.plainHTTPFor(host); ok {
					c.plainHTTP = c.plainHTTP || plain
				}
				for _, f := range ht.caFor(host) {
					if !filepath.IsAbs(f) {
						f = filepath.Join(d, f)
					}
					cas = append(cas, f)
				}
				c.skipVerify = c.skipVerify || ht.skipVerifyFor(host)
			}
		}
	}
	if len(cas) == 0 && len(certs) == 0 && !c.skipVerify {
		return c
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range cas {
		b, err := os.ReadFile(f)
		if err != nil {
			c.err = fmt.Errorf("CA certificate for %s: %w", host, err)
			return c
		}
		if !pool.AppendCertsFromPEM(b) {
			c.err = fmt.Errorf("CA certificate %s for %s holds no PEM certificate", f, host)
			return c
		}
	}
	c.caFiles = cas
	c.tls = &tls.Config{RootCAs: pool, Certificates: certs, InsecureSkipVerify: c.skipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // skip_verify only when hosts.toml asks
	return c
}

func readHostsTOML(p string) (*hostEntryL, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var ht hostEntryL
	if err := toml.Unmarshal(b, &ht); err != nil {
		return nil, err
	}
	return &ht, nil
}

// urlHost is the host[:port] of a hosts.toml server or host key, and its
// scheme (https when none is given, as containerd reads it).
func urlHost(s string) (scheme, host string) {
	if !strings.Contains(s, "://") {
		return "https", s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", ""
	}
	return u.Scheme, u.Host
}

func (ht *hostEntryL) plainHTTPFor(host string) (plain, found bool) {
	if s, hh := urlHost(ht.Server); hh == host {
		plain, found = s == "http", true
	}
	for k := range ht.Host {
		if s, hh := urlHost(k); hh == host {
			plain, found = plain || s == "http", true
		}
	}
	return plain, found
}

func (ht *hostEntryL) caFor(host string) []string {
	out := caList(ht.CA)
	for k, e := range ht.Host {
		if _, hh := urlHost(k); hh == host {
			out = append(out, caList(e.CA)...)
		}
	}
	return out
}

func (ht *hostEntryL) skipVerifyFor(host string) bool {
	if _, hh := urlHost(ht.Server); ht.SkipVerify && (ht.Server == "" || hh == host) {
		return true
	}
	for k, e := range ht.Host {
		if _, hh := urlHost(k); hh == host && e.SkipVerify {
			return true
		}
	}
	return false
}

func caList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Transport returns base seen through h: requests to a host not allowed
// plain HTTP go over HTTPS whatever scheme they were made with, each host
// gets its certs.d CAs and client certificates (when base is an
// *http.Transport), and TLS failures become a *TLSError saying what was
// wrong and how to trust a private CA.
func (h *Hosts) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = DefaultTransport()
	}
	return &hostsTransport{h: h, base: base, per: map[string]http.RoundTripper{}}
}

type hostsTransport struct {
	h    *Hosts
	base http.RoundTripper
	mu   sync.Mutex
	per  map[string]http.RoundTripper
}

func (t *hostsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	c := t.h.config(host)
	if c.err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, c.err
	}
	if req.URL.Scheme == "http" && !c.plainHTTP {
		r2 := req.Clone(req.Context())
		r2.URL.Scheme = "https"
		req = r2
	}
	resp, err := t.forHost(host, c).RoundTrip(req)
	if err != nil {
		return nil, t.h.explainTLS(host, c, err)
	}
	return resp, nil
}

func (t *hostsTransport) forHost(host string, c *hostConfig) http.RoundTripper {
	if c.tls == nil {
		return t.base
	}
	ht, ok := t.base.(*http.Transport)
	if !ok {
		return t.base
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if rt := t.per[host]; rt != nil {
		return rt
	}
	cl := ht.Clone()
	cl.TLSClientConfig = c.tls.Clone()
	t.per[host] = cl
	return cl
}

// TLSError is a registry host whose TLS handshake failed (or that answered
// HTTPS with plain HTTP). It is never retried.
type TLSError struct {
	Host   string
	Reason string // what was wrong, in words
	Fix    string
	Err    error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("TLS with %s failed: %s (%v). %s", e.Host, e.Reason, e.Err, e.Fix)
}

func (e *TLSError) Unwrap() error { return e.Err }

// trustHint says how to trust a private CA for host.
func (h *Hosts) trustHint(host string) string {
	dirs := h.dirs()
	where := filepath.Join(dirs[0], host, "ca.crt")
	return fmt.Sprintf("To trust a private CA: add it to the system trust store (update-ca-certificates), point SSL_CERT_FILE at a PEM bundle that holds it, or save it as %s (Docker's certs.d convention; also read from %s). Verification is never skipped and HTTPS never falls back to HTTP on its own",
		where, strings.Join(dirs[1:], ", "))
}

func (h *Hosts) explainTLS(host string, c *hostConfig, err error) error {
	if errors.As(err, new(*TLSError)) {
		return err
	}
	var (
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		inv x509.CertificateInvalidError
	)
	hint := h.trustHint(host)
	extra := ""
	if len(c.caFiles) > 0 {
		extra = " (trusted for it besides the system store: " + strings.Join(c.caFiles, ", ") + ")"
	}
	switch {
	case errors.As(err, &ua):
		return &TLSError{Host: host, Reason: "its certificate is signed by an unknown certificate authority" + extra, Fix: hint, Err: err}
	case errors.As(err, &hn):
		return &TLSError{Host: host, Reason: "its certificate is for another host name (" + hostnames(hn.Certificate) + "), not " + hn.Host,
			Fix: "Use the name the certificate was issued for, or have the registry's certificate reissued with " + hn.Host + " in its subject alternative names", Err: err}
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return &TLSError{Host: host, Reason: "its certificate has expired or is not yet valid", Fix: "Renew the registry's certificate (or check this machine's clock)", Err: err}
	case errors.As(err, &inv):
		return &TLSError{Host: host, Reason: "its certificate is not valid for a TLS server", Fix: hint, Err: err}
	case errors.As(err, new(tls.RecordHeaderError)) && looksLikeHTTP(err),
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return &TLSError{Host: host, Reason: "it answers plain HTTP, not HTTPS",
			Fix: fmt.Sprintf("Plain HTTP is used only for loopback hosts, with --insecure, or with a hosts.toml naming server = \"http://%s\" in a certs.d/%s/ folder; use it only on a network you trust", host, host), Err: err}
	}
	return err
}

func hostnames(c *x509.Certificate) string {
	if c == nil {
		return "unknown names"
	}
	var n []string
	n = append(n, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		n = append(n, ip.String())
	}
	if len(n) == 0 && c.Subject.CommonName != "" {
		n = append(n, c.Subject.CommonName)
	}
	return strings.Join(n, ", ")
}

// looksLikeHTTP reports whether the bytes a TLS client got instead of a
// handshake record are the start of a plain HTTP response.
func looksLikeHTTP(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) && string(rh.RecordHeader[:]) == "HTTP/"
}
