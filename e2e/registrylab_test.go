//go:build e2e

package e2e

// A lab of registries like the ones users push to: CNCF distribution with
// TLS behind a test CA, htpasswd basic auth, and token auth with a token
// server of our own (the distribution token spec: RS256 JWTs whose x5c
// header chains to the registry's rootcertbundle, with exactly the access a
// policy grants). The registries listen in a network namespace the lab
// creates, on the far end of a veth pair, so the client reaches them on a
// private address as a user on another machine would (Go never proxies
// loopback, and loopback is where plain HTTP is allowed). The token server
// and the throttling proxies listen on the near end. Everything is removed
// when the test ends.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

// labSubnets hands each lab of this process its own /24 of 10.213.0.0/16
// (the Docker Engines of the dev environment use 10.231.x.x).
var (
	labMu   sync.Mutex
	labNext = 1 + mrand.IntN(200)
)

// lab is one network namespace with its CA.
type lab struct {
	t      *testing.T
	dir    string
	ns     string
	hostIf string
	HostIP string // near end (token server, proxies)
	NSIP   string // far end (registries)
	CA     *testCA
	port   int
}

func newLab(t *testing.T) *lab {
	t.Helper()
	devEnv(t)
	labMu.Lock()
	var n int
	out, _ := exec.Command("ip", "-br", "addr").CombinedOutput()
	for i := 0; i < 250; i++ {
		n = labNext
		labNext = labNext%250 + 1
		if !strings.Contains(string(out), fmt.Sprintf("10.213.%d.", n)) {
			break
		}
	}
	labMu.Unlock()
	l := &lab{t: t, dir: t.TempDir(), ns: fmt.Sprintf("cogreg%d-%d", n, os.Getpid()%10000), hostIf: fmt.Sprintf("crh%d-%d", n, os.Getpid()%1000),
		HostIP: fmt.Sprintf("10.213.%d.1", n), NSIP: fmt.Sprintf("10.213.%d.2", n), port: 5000}
	peer := fmt.Sprintf("crn%d-%d", n, os.Getpid()%1000)
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sh("netns", "add", l.ns)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", l.hostIf).Run()
		exec.Command("ip", "netns", "del", l.ns).Run()
	})
	sh("link", "add", l.hostIf, "type", "veth", "peer", "name", peer)
	sh("link", "set", peer, "netns", l.ns)
	sh("addr", "add", l.HostIP+"/24", "dev", l.hostIf)
	sh("link", "set", l.hostIf, "up")
	sh("netns", "exec", l.ns, "ip", "addr", "add", l.NSIP+"/24", "dev", peer)
	sh("netns", "exec", l.ns, "ip", "link", "set", peer, "up")
	sh("netns", "exec", l.ns, "ip", "link", "set", "lo", "up")
	l.CA = newTestCA(t, filepath.Join(l.dir, "ca"), "cog e2e test CA")
	return l
}

// testCA is a certificate authority made for one test.
type testCA struct {
	dir  string
	cert *x509.Certificate
	key  crypto.Signer
	File string // PEM
}

func newTestCA(t *testing.T, dir, cn string) *testCA {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{dir: dir, cert: cert, key: key, File: filepath.Join(dir, "ca.crt")}
	writePEM(t, ca.File, "CERTIFICATE", der)
	return ca
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

var serial atomic.Int64

// issue makes a server certificate (and key) for ips and names, valid
// from nb to na, and returns the file paths. key may be nil (ECDSA).
func (ca *testCA) issue(t *testing.T, label string, ips []string, names []string, nb, na time.Time, key crypto.Signer) (certFile, keyFile string, der []byte) {
	t.Helper()
	if key == nil {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(100 + serial.Add(1)), Subject: pkix.Name{CommonName: label},
		NotBefore: nb, NotAfter: na, DNSNames: names,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(ca.dir, label+".crt"), filepath.Join(ca.dir, label+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", kb)
	return certFile, keyFile, der
}

// serverCert is a good certificate for both ends of the veth pair.
func (l *lab) serverCert(label string) (string, string) {
	c, k, _ := l.CA.issue(l.t, label, []string{l.HostIP, l.NSIP}, nil, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), nil)
	return c, k
}

// regConfig is one distribution instance.
type regConfig struct {
	PlainHTTP     bool
	Cert, Key     string // default: a good certificate from the lab CA
	HtpasswdUsers map[string]string
	Token         *tokenServer
	// Via, with Token, puts something between the token front and
	// distribution: it gets distribution's address and returns its own.
	Via func(backend string) string
	// Uploads, with Token, is another host that upload sessions are sent
	// to; registry starts it.
	Uploads *uploadHost
}

// registry starts a distribution registry in the namespace and returns
// its host:port.
func (l *lab) registry(c regConfig) string {
	t := l.t
	t.Helper()
	l.port++
	host := net.JoinHostPort(l.NSIP, fmt.Sprint(l.port))
	front := ""
	if c.Token != nil {
		// Like Harbor and GitLab: the token service on the registry's own
		// host and port, in front of distribution (go-containerregistry
		// refuses a realm at another private address). The front speaks
		// TLS; distribution behind it plain HTTP, on another port.
		front = host
		c.Token.URL = "https://" + front
		host = net.JoinHostPort(l.NSIP, fmt.Sprint(l.port+100))
		c.PlainHTTP = true
	}
	dir := filepath.Join(l.dir, fmt.Sprintf("reg%d", l.port))
	os.MkdirAll(dir, 0o755)
	var y strings.Builder
	fmt.Fprintf(&y, "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n", filepath.Join(dir, "data"))
	fmt.Fprintf(&y, "http:\n  addr: %s\n  secret: cog-e2e\n  relativeurls: true\n", host)
	if !c.PlainHTTP {
		if c.Cert == "" {
			c.Cert, c.Key = l.serverCert(fmt.Sprintf("registry%d", l.port))
		}
		fmt.Fprintf(&y, "  tls:\n    certificate: %s\n    key: %s\n", c.Cert, c.Key)
	}
	switch {
	case c.HtpasswdUsers != nil:
		var hp strings.Builder
		for u, p := range c.HtpasswdUsers {
			h, _ := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
			fmt.Fprintf(&hp, "%s:%s\n", u, h)
		}
		f := filepath.Join(dir, "htpasswd")
		os.WriteFile(f, []byte(hp.String()), 0o600)
		fmt.Fprintf(&y, "auth:\n  htpasswd:\n    realm: cog-e2e\n    path: %s\n", f)
	case c.Token != nil:
		fmt.Fprintf(&y, "auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n", c.Token.URL+"/token", c.Token.Service, c.Token.Issuer, c.Token.Bundle)
	}
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(y.String()), 0o644)
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd := exec.Command("ip", "netns", "exec", l.ns, filepath.Join(theEnv.ToolsDir, "registry"), "serve", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("registry %s log tail:\n%s", host, b)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", host, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("registry at %s did not start: %v\n%s", host, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if front != "" {
		backend := host
		if c.Via != nil {
			backend = c.Via(host)
		}
		uploads := ""
		if c.Uploads != nil {
			l.serveUploads(c.Uploads, front, backend, c.Token)
			uploads = c.Uploads.Addr
		}
		l.tokenFront(front, backend, uploads, c.Token)
		return front
	}
	return host
}

// tokenFront serves the token server at /token and proxies everything else
// to the registry at backend, with TLS, listening inside the namespace.
// With uploads, upload sessions are sent there: the Location of each
// answer that opens or continues one names that host.
func (l *lab) tokenFront(addr, backend, uploads string, ts *tokenServer) {
	t := l.t
	certFile, keyFile := l.serverCert("front-" + strings.ReplaceAll(addr, ":", "_"))
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := listenInNetNS(l.ns, addr)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse("http://" + backend)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			// Distribution reads a body only once it accepted the token,
			// so a client that waits for "100 Continue" sends nothing
			// with a request it refuses (an expired token). The front
			// must not answer 100 before distribution did: it asks
			// distribution with Expect too, and reads (so answers 100)
			// only after distribution's 100. Go's HTTP/2 server takes
			// Expect off the request it hands a handler, so over HTTP/2
			// the front would forward the body at once and let the client
			// send it to a request that ends in 401.
			if pr.In.ContentLength > 0 {
				pr.Out.Header.Set("Expect", "100-continue")
			}
		},
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0), // the throttle's cuts
		ModifyResponse: func(resp *http.Response) error {
			if uploads != "" {
				uploadsAt(resp, uploads)
			}
			return nil
		},
		// A connection per request, so a throttle behind the front applies
		// its current rate and cut to each request.
		Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: 5 * time.Second},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", ts.serve)
	mux.Handle("/", rp)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	ts.URL = "https://" + addr
}

// uploadsAt points the Location of an answer about an upload session at
// host.
func uploadsAt(resp *http.Response, host string) {
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "/v2/") && strings.Contains(loc, "/blobs/uploads/") {
		resp.Header.Set("Location", "https://"+host+loc)
	}
}

// uploadHost is a host other than the registry's that takes its upload
// sessions, as storage behind a registry does (an upload URL signed for
// one session). It needs no credentials from the client: it forwards to
// distribution with a token of its own for the session's repository. It
// records the Authorization headers clients sent it.
type uploadHost struct {
	Addr string

	mu       sync.Mutex
	requests []string
	auth     []string
}

func (u *uploadHost) seen() (requests, auth []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.requests), slices.Clone(u.auth)
}

// serveUploads starts u on the near end, in front of distribution at
// backend, for the registry known as registryHost.
func (l *lab) serveUploads(u *uploadHost, registryHost, backend string, ts *tokenServer) {
	t := l.t
	certFile, keyFile := l.serverCert(fmt.Sprintf("uploads%d", serial.Add(1)))
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", l.HostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	u.Addr = ln.Addr().String()
	target, _ := url.Parse("http://" + backend)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = registryHost
			repo, _, _ := strings.Cut(strings.TrimPrefix(pr.In.URL.Path, "/v2/"), "/blobs/uploads/")
			tok, err := ts.sign("upload-host", []tokenAccess{{"repository", repo, []string{"pull", "push"}}}, time.Now())
			if err == nil {
				pr.Out.Header.Set("Authorization", "Bearer "+tok)
			}
			if pr.In.ContentLength > 0 {
				pr.Out.Header.Set("Expect", "100-continue") // as in tokenFront
			}
		},
		ModifyResponse: func(resp *http.Response) error { uploadsAt(resp, u.Addr); return nil },
		Transport:      &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: 5 * time.Second},
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.requests = append(u.requests, r.Method+" "+r.URL.Path)
		if a := r.Header.Get("Authorization"); a != "" {
			u.auth = append(u.auth, a)
		}
		u.mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, "/v2/") || !strings.Contains(r.URL.Path, "/blobs/uploads/") {
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
}

// listenInNetNS opens a listening socket inside the named network
// namespace: one OS thread enters it, listens, and returns; the socket
// stays in the namespace.
func listenInNetNS(ns, addr string) (net.Listener, error) {
	type res struct {
		ln  net.Listener
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer orig.Close()
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- res{nil, err}
			return
		}
		ln, err := net.Listen("tcp", addr)
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // else the thread ends with this goroutine
		}
		ch <- res{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}

// tokenServer issues registry tokens per the distribution token spec.
type tokenServer struct {
	URL, Service, Issuer string
	Bundle               string // rootcertbundle for the registry

	users    map[string]string
	allow    func(user, repo string) []string
	lifetime time.Duration
	key      *rsa.PrivateKey
	x5c      string

	mu      sync.Mutex
	refused map[string]bool
	log     []tokenRequest
}

type tokenRequest struct {
	User      string
	Requested []string
	Granted   []string
	At        time.Time
	Status    int
}

// tokenServer starts a token server on the near end; allow says which
// actions a user has on a repository, lifetime how long tokens live.
func (l *lab) tokenServer(users map[string]string, allow func(user, repo string) []string, lifetime time.Duration) *tokenServer {
	t := l.t
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	signCA := newTestCA(t, filepath.Join(l.dir, fmt.Sprintf("tokenca%d", serial.Add(1))), "cog e2e token CA")
	_, _, der := signCA.issue(t, "token-signer", nil, []string{"token-signer"}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), key)
	ts := &tokenServer{Service: "cog-e2e-registry", Issuer: "cog-e2e-token-issuer", Bundle: signCA.File,
		users: users, allow: allow, lifetime: lifetime, key: key, x5c: base64.StdEncoding.EncodeToString(der), refused: map[string]bool{}}
	certFile, keyFile := l.serverCert(fmt.Sprintf("tokensrv%d", serial.Add(1)))
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", l.HostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(ts.serve), TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}, ErrorLog: nil}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	ts.URL = "https://" + ln.Addr().String()
	return ts
}

// refuse makes the server refuse (true) or serve again (false) user.
func (ts *tokenServer) refuse(user string, v bool) {
	ts.mu.Lock()
	ts.refused[user] = v
	ts.mu.Unlock()
}

func (ts *tokenServer) requests() []tokenRequest {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.log)
}

// tokenAccess is one grant of a token (the distribution token spec's
// "access" claim).
type tokenAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// sign makes a token for user with grants, issued at now.
func (ts *tokenServer) sign(user string, grants []tokenAccess, now time.Time) (string, error) {
	var jti [8]byte
	rand.Read(jti[:])
	claims := map[string]any{"iss": ts.Issuer, "sub": user, "aud": ts.Service, "exp": now.Add(ts.lifetime).Unix(),
		"nbf": now.Add(-time.Second).Unix(), "iat": now.Unix(), "jti": fmt.Sprintf("%x", jti), "access": grants}
	header := map[string]any{"alg": "RS256", "typ": "JWT", "x5c": []string{ts.x5c}}
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	signing := enc(header) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, ts.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	var requested []string
	for _, s := range r.URL.Query()["scope"] {
		requested = append(requested, strings.Fields(s)...)
	}
	rec := tokenRequest{User: user, Requested: requested, At: time.Now()}
	ts.mu.Lock()
	refused := ts.refused[user]
	ts.mu.Unlock()
	if !ok || ts.users[user] != pass || refused {
		rec.Status = http.StatusUnauthorized
		ts.mu.Lock()
		ts.log = append(ts.log, rec)
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required: unknown user, wrong password or access revoked"}]}`)
		return
	}
	var grants []tokenAccess
	for _, s := range requested {
		parts := strings.Split(s, ":")
		if len(parts) != 3 || parts[0] != "repository" {
			continue
		}
		allowed := ts.allow(user, parts[1])
		var acts []string
		for _, a := range strings.Split(parts[2], ",") {
			if slices.Contains(allowed, a) {
				acts = append(acts, a)
			}
		}
		if len(acts) > 0 {
			grants = append(grants, tokenAccess{"repository", parts[1], acts})
			rec.Granted = append(rec.Granted, "repository:"+parts[1]+":"+strings.Join(acts, ","))
		}
	}
	now := time.Now()
	tok, err := ts.sign(user, grants, now)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	rec.Status = http.StatusOK
	ts.mu.Lock()
	ts.log = append(ts.log, rec)
	ts.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": int(ts.lifetime.Seconds()), "issued_at": now.UTC().Format(time.RFC3339)})
}

// throttle is a TCP proxy on the near end that forwards to a registry at
// a bounded rate per direction and connection, counting the bytes, and
// optionally cuts every connection after cutAfter.
type throttle struct {
	Addr     string
	rate     atomic.Int64 // bytes per second
	cutAfter atomic.Int64 // a time.Duration; 0: never
	Up, Down atomic.Int64
}

func (l *lab) throttle(target string, rate int64, cutAfter time.Duration) *throttle {
	t := l.t
	ln, err := net.Listen("tcp", l.HostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	p := &throttle{Addr: ln.Addr().String()}
	p.rate.Store(rate)
	p.cutAfter.Store(int64(cutAfter))
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close(); wg.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				if cut := time.Duration(p.cutAfter.Load()); cut > 0 {
					tm := time.AfterFunc(cut, func() { c.Close(); u.Close() })
					defer tm.Stop()
				}
				ch := make(chan struct{}, 2)
				go func() { p.pipe(u, c, &p.Up, done); ch <- struct{}{} }()
				go func() { p.pipe(c, u, &p.Down, done); ch <- struct{}{} }()
				<-ch
			}()
		}
	}()
	return p
}

func (p *throttle) pipe(dst, src net.Conn, n *atomic.Int64, done chan struct{}) {
	defer dst.Close()
	buf := make([]byte, 16<<10)
	start := time.Now()
	rate := p.rate.Load()
	var sent int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return
			}
			n.Add(int64(k))
			sent += int64(k)
			if want := time.Duration(float64(sent) / float64(rate) * float64(time.Second)); want > time.Since(start) {
				select {
				case <-time.After(want - time.Since(start)):
				case <-done:
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// dockerConfig writes a Docker client configuration directory with the
// given config.json content and returns it.
func dockerConfigDir(t *testing.T, cfg any) string {
	t.Helper()
	dir := t.TempDir()
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// credHelperSource is docker-credential-cogtest, a credential helper that
// keeps credentials in the JSON file $COG_E2E_CRED_STORE and logs each
// call to that file + ".log".
const credHelperSource = `package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

type cred struct{ ServerURL, Username, Secret string }

func main() {
	path := os.Getenv("COG_E2E_CRED_STORE")
	m := map[string]cred{}
	if b, err := os.ReadFile(path); err == nil {
		json.Unmarshal(b, &m)
	}
	in, _ := io.ReadAll(os.Stdin)
	if f, err := os.OpenFile(path+".log", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		fmt.Fprintf(f, "%s %s\n", os.Args[1], strings.SplitN(string(in), "\n", 2)[0])
		f.Close()
	}
	save := func() { b, _ := json.Marshal(m); os.WriteFile(path, b, 0o600) }
	switch os.Args[1] {
	case "get":
		c, ok := m[strings.TrimSpace(string(in))]
		if !ok {
			fmt.Print("credentials not found in native keychain")
			os.Exit(1)
		}
		json.NewEncoder(os.Stdout).Encode(c)
	case "store":
		var c cred
		json.Unmarshal(in, &c)
		m[c.ServerURL] = c
		save()
	case "erase":
		delete(m, strings.TrimSpace(string(in)))
		save()
	case "list":
		out := map[string]string{}
		for k, c := range m {
			out[k] = c.Username
		}
		json.NewEncoder(os.Stdout).Encode(out)
	}
}
`

var (
	credHelperOnce sync.Once
	credHelperDir  string
	credHelperErr  error
)

// credHelper builds docker-credential-cogtest once and returns its folder
// (to put on PATH).
func credHelper(t *testing.T) string {
	t.Helper()
	credHelperOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cog-e2e-credhelper-")
		if err != nil {
			credHelperErr = err
			return
		}
		src := filepath.Join(dir, "main.go")
		os.WriteFile(src, []byte(credHelperSource), 0o644)
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "docker-credential-cogtest"), src)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			credHelperErr = fmt.Errorf("building the credential helper: %v\n%s", err, out)
		}
		credHelperDir = dir
	})
	if credHelperErr != nil {
		t.Fatal(credHelperErr)
	}
	return credHelperDir
}

// runWith runs a command with extra environment variables (KEY=VALUE,
// overriding the inherited ones) and returns its combined output and error.
func runWith(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	t.Logf("$ %s %s %s  (%s)", strings.Join(env, " "), filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return buf.String(), err
}

// caBundle writes the system's CA bundle plus extra into one PEM file, for
// SSL_CERT_FILE.
func caBundle(t *testing.T, extra ...string) string {
	t.Helper()
	var b []byte
	for _, f := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"} {
		if s, err := os.ReadFile(f); err == nil {
			b = append(b, s...)
			break
		}
	}
	for _, f := range extra {
		s, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, s...)
	}
	p := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// trustIn puts ca into dockerConfig/certs.d/host/ca.crt (Docker's
// convention, which the client reads under $DOCKER_CONFIG).
func trustIn(t *testing.T, dockerConfig, host, ca string) {
	t.Helper()
	d := filepath.Join(dockerConfig, "certs.d", host)
	os.MkdirAll(d, 0o755)
	b, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "ca.crt"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var _ = io.Discard
