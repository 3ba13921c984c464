//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// TestRegistryCredentialsAsUsersKeepThem pushes, inspects and checks the
// status of a bundle on TLS registries with basic and token auth, with
// credentials kept in config.json auths, a credsStore, credHelpers, and
// written by `docker login`; a missing or wrong credential fails before
// anything is uploaded, naming the registry and `docker login HOST`.
func TestRegistryCredentialsAsUsersKeepThem(t *testing.T) {
	env := testEnv(t)
	l := newLab(t)
	ts := l.tokenServer(map[string]string{"alice": "pw-alice"}, func(user, repo string) []string { return []string{"pull", "push"} }, 5*time.Minute)
	tokReg := l.registry(regConfig{Token: ts})
	basicReg := l.registry(regConfig{HtpasswdUsers: map[string]string{"bob": "pw-bob"}})
	dir, _ := weightsProject(t, env, tokReg+"/team/model")
	writeImageLayout(t, filepath.Join(dir, "img"))
	layout := "oci-layout://" + filepath.Join(dir, "img") + ":latest"
	trust := "SSL_CERT_FILE=" + caBundle(t, l.CA.File)
	helper := credHelper(t)
	withHelper := []string{trust, "PATH=" + helper + ":" + os.Getenv("PATH")}
	bundle := func(cfgDir string, extra []string, ref string) (string, error) {
		return runWith(t, dir, append([]string{"DOCKER_CONFIG=" + cfgDir}, extra...), env.Binary, "bundle", "--image", layout, "--push", ref, "--progress", "plain")
	}
	ok := func(what, out string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
	}

	// config.json auths, basic auth.
	auths := dockerConfigDir(t, map[string]any{"auths": map[string]any{basicReg: map[string]string{"auth": basicAuth("bob", "pw-bob")}}})
	out, err := bundle(auths, []string{trust}, basicReg+"/team/m:v1")
	ok("bundle --push with config.json auths (htpasswd)", out, err)
	out, err = runWith(t, dir, []string{"DOCKER_CONFIG=" + auths, trust}, env.Binary, "inspect", basicReg+"/team/m:v1")
	ok("inspect with config.json auths", out, err)
	mustContain(t, "inspect", out, "minilm")
	out, err = runWith(t, dir, []string{"DOCKER_CONFIG=" + auths, trust}, env.Binary, "weights", "status", "--registry-repo", basicReg+"/team/m")
	ok("weights status with config.json auths", out, err)

	// A credsStore helper, token auth.
	store := filepath.Join(t.TempDir(), "store.json")
	b, _ := json.Marshal(map[string]any{tokReg: map[string]string{"ServerURL": tokReg, "Username": "alice", "Secret": "pw-alice"}})
	os.WriteFile(store, b, 0o600)
	credsStore := dockerConfigDir(t, map[string]any{"credsStore": "cogtest"})
	hEnv := append(slicesClone(withHelper), "COG_E2E_CRED_STORE="+store)
	out, err = bundle(credsStore, hEnv, tokReg+"/team/m:v1")
	ok("bundle --push with a credsStore (token auth)", out, err)
	out, err = runWith(t, dir, append([]string{"DOCKER_CONFIG=" + credsStore}, hEnv...), env.Binary, "inspect", tokReg+"/team/m:v1")
	ok("inspect with a credsStore", out, err)
	if log, _ := os.ReadFile(store + ".log"); !strings.Contains(string(log), "get "+tokReg) {
		t.Errorf("the credsStore helper was not asked for %s: %s", tokReg, log)
	}

	// credHelpers for one registry.
	helpers := dockerConfigDir(t, map[string]any{"credHelpers": map[string]string{basicReg: "cogtest"}})
	store2 := filepath.Join(t.TempDir(), "store.json")
	b, _ = json.Marshal(map[string]any{basicReg: map[string]string{"ServerURL": basicReg, "Username": "bob", "Secret": "pw-bob"}})
	os.WriteFile(store2, b, 0o600)
	out, err = bundle(helpers, append(slicesClone(withHelper), "COG_E2E_CRED_STORE="+store2), basicReg+"/team/m2:v1")
	ok("bundle --push with credHelpers", out, err)

	// docker login (client side: no Docker daemon here), then push.
	fresh := dockerConfigDir(t, map[string]any{})
	out, err = runWith(t, dir, []string{"DOCKER_CONFIG=" + fresh, trust, "DOCKER_HOST=unix:///nonexistent/docker.sock"}, "sh", "-c", "printf pw-alice | docker login "+tokReg+" -u alice --password-stdin")
	ok("docker login", out, err)
	out, err = bundle(fresh, []string{trust}, tokReg+"/team/m3:v1")
	ok("bundle --push after docker login", out, err)

	// Missing and wrong credentials: refused before any upload.
	none := dockerConfigDir(t, map[string]any{})
	wrong := dockerConfigDir(t, map[string]any{"auths": map[string]any{
		basicReg: map[string]string{"auth": basicAuth("bob", "nope")}, tokReg: map[string]string{"auth": basicAuth("alice", "nope")}}})
	for _, c := range []struct{ what, cfg, reg string }{
		{"no credentials, token auth", none, tokReg}, {"no credentials, basic auth", none, basicReg},
		{"wrong password, token auth", wrong, tokReg}, {"wrong password, basic auth", wrong, basicReg},
	} {
		out, err := bundle(c.cfg, []string{trust}, c.reg+"/team/denied:v1")
		if err == nil {
			t.Errorf("%s: push succeeded:\n%s", c.what, out)
			continue
		}
		mustContain(t, c.what+": push error", out, "registry "+c.reg+" refused push access", "docker login "+c.reg)
		if progressLine.MatchString(out) || strings.Contains(out, "uploaded") {
			t.Errorf("%s: the push started before the credentials were checked:\n%s", c.what, out)
		}
		out, err = runWith(t, dir, []string{"DOCKER_CONFIG=" + c.cfg, trust}, env.Binary, "inspect", c.reg+"/team/m:v1")
		if err == nil {
			t.Errorf("%s: inspect succeeded:\n%s", c.what, out)
		}
		mustContain(t, c.what+": inspect error", out, c.reg, "docker login "+c.reg)
	}
	// cog-frontend push checks before building.
	start := time.Now()
	out, err = runWith(t, dir, []string{"DOCKER_CONFIG=" + none, trust}, env.Binary, "push", "--progress", "plain", tokReg+"/team/built:v1")
	if err == nil {
		t.Fatalf("push without credentials succeeded:\n%s", out)
	}
	mustContain(t, "push error", out, "docker login "+tokReg)
	if progressLine.MatchString(out) || time.Since(start) > 20*time.Second {
		t.Errorf("push built before checking credentials (%s):\n%s", time.Since(start), out)
	}
}

// progressLine is a line of BuildKit's plain progress (a build step or the
// push vertex).
var progressLine = regexp.MustCompile(`(?m)^#\d`)

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// TestRegistryTokenScopesMountOrUpload: a cross-repository mount asks for
// pull on the source; granted, the blob is mounted; refused (a CI token
// scoped to one repository), the blob is uploaded, the push succeeds, and
// the source is not asked for again.
func TestRegistryTokenScopesMountOrUpload(t *testing.T) {
	env := testEnv(t)
	l := newLab(t)
	ts := l.tokenServer(map[string]string{"dev": "pw-dev", "ci": "pw-ci"}, func(user, repo string) []string {
		if user == "dev" || repo == "ci/m" {
			return []string{"pull", "push"}
		}
		return nil
	}, 5*time.Minute)
	reg := l.registry(regConfig{Token: ts})
	dir, _ := weightsProject(t, env, reg+"/ci/private")
	writeImageLayout(t, filepath.Join(dir, "img"))
	layout := "oci-layout://" + filepath.Join(dir, "img") + ":latest"
	trust := "SSL_CERT_FILE=" + caBundle(t, l.CA.File)
	dev := dockerConfigDir(t, map[string]any{"auths": map[string]any{reg: map[string]string{"auth": basicAuth("dev", "pw-dev")}}})
	ci := dockerConfigDir(t, map[string]any{"auths": map[string]any{reg: map[string]string{"auth": basicAuth("ci", "pw-ci")}}})
	push := func(cfg, ref string) string {
		t.Helper()
		out, err := runWith(t, dir, []string{"DOCKER_CONFIG=" + cfg, trust}, env.Binary, "bundle", "--image", layout, "--push", ref, "--progress", "plain", "--jobs", "1")
		if err != nil {
			t.Fatalf("push to %s: %v\n%s", ref, err, out)
		}
		return out
	}
	push(dev, reg+"/ci/private:v1")
	out := push(dev, reg+"/team/other:v1")
	mustContain(t, "push with pull on the source", out, "uploaded 0B in 0 blob(s); 0 already present, 5 mounted")

	before := len(ts.requests())
	out = push(ci, reg+"/ci/m:v1")
	mustContain(t, "push with a token for one repository", out, "in 5 blob(s); 0 already present, 0 mounted")
	asked := 0
	for _, r := range ts.requests()[before:] {
		for _, s := range r.Requested {
			if strings.HasSuffix(s, ":pull") && !strings.Contains(s, "ci/m:") {
				asked++
				break
			}
		}
		for _, g := range r.Granted {
			if !strings.Contains(g, "repository:ci/m:") {
				t.Errorf("the token server granted %q to ci", g)
			}
		}
	}
	// Two sources, each asked once (a token exchange, and the refresh
	// go-containerregistry makes on the 401), then remembered: at most 4,
	// not 4 per blob.
	if asked == 0 || asked > 4 {
		t.Errorf("token requests naming an unreadable mount source: %d, want 1..4", asked)
	}
}

// TestRegistryTLSErrorsSayWhichAndHowToTrust: an unknown CA, a wrong host
// name and an expired certificate are refused, each with an error saying
// which and how to trust a private CA; the CA is honoured from
// SSL_CERT_FILE and from Docker's certs.d/<host>/ca.crt; a plain-HTTP
// registry at a private address is refused unless --insecure or a
// hosts.toml says so (no silent fallback).
func TestRegistryTLSErrorsSayWhichAndHowToTrust(t *testing.T) {
	env := testEnv(t)
	l := newLab(t)
	now := time.Now()
	good := l.registry(regConfig{})
	wc, wk, _ := l.CA.issue(t, "wronghost", nil, []string{"registry.other.invalid"}, now.Add(-time.Hour), now.Add(24*time.Hour), nil)
	wrongHost := l.registry(regConfig{Cert: wc, Key: wk})
	ec, ek, _ := l.CA.issue(t, "expired", []string{l.HostIP, l.NSIP}, nil, now.Add(-48*time.Hour), now.Add(-24*time.Hour), nil)
	expired := l.registry(regConfig{Cert: ec, Key: ek})
	plain := l.registry(regConfig{PlainHTTP: true})
	dir, _ := weightsProject(t, env, good+"/tls/model")
	writeImageLayout(t, filepath.Join(dir, "img"))
	layout := "oci-layout://" + filepath.Join(dir, "img") + ":latest"
	empty := dockerConfigDir(t, map[string]any{})
	trust := "SSL_CERT_FILE=" + caBundle(t, l.CA.File)
	push := func(envs []string, ref string, extra ...string) (string, error) {
		return runWith(t, dir, append([]string{"DOCKER_CONFIG=" + empty}, envs...), env.Binary,
			append([]string{"bundle", "--image", layout, "--push", ref, "--progress", "plain"}, extra...)...)
	}
	fails := func(what, out string, err error, wants ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s succeeded:\n%s", what, out)
			return
		}
		mustContain(t, what, out, wants...)
	}
	out, err := push(nil, good+"/tls/m:v1")
	fails("push, CA not trusted", out, err, "TLS with "+good, "unknown certificate authority", "SSL_CERT_FILE", filepath.Join(empty, "certs.d", good, "ca.crt"))
	out, err = runWith(t, dir, []string{"DOCKER_CONFIG=" + empty}, env.Binary, "inspect", good+"/tls/m:v1")
	fails("inspect, CA not trusted", out, err, "unknown certificate authority", "SSL_CERT_FILE")

	out, err = push([]string{trust}, good+"/tls/m:v1")
	if err != nil {
		t.Fatalf("push with the CA in SSL_CERT_FILE: %v\n%s", err, out)
	}
	certsd := dockerConfigDir(t, map[string]any{})
	trustIn(t, certsd, good, l.CA.File)
	if out, err := runWith(t, dir, []string{"DOCKER_CONFIG=" + certsd}, env.Binary, "inspect", good+"/tls/m:v1"); err != nil {
		t.Errorf("inspect with the CA in certs.d/%s/ca.crt: %v\n%s", good, err, out)
	}

	out, err = push([]string{trust}, wrongHost+"/tls/m:v1")
	fails("push, wrong host name", out, err, "TLS with "+wrongHost, "another host name (registry.other.invalid)")
	out, err = push([]string{trust}, expired+"/tls/m:v1")
	fails("push, expired certificate", out, err, "TLS with "+expired, "expired")

	out, err = push(nil, plain+"/tls/m:v1")
	fails("push to a plain-HTTP registry without --insecure", out, err, "answers plain HTTP, not HTTPS", "--insecure", "hosts.toml")
	if out, err := push(nil, plain+"/tls/m:v1", "--insecure"); err != nil {
		t.Errorf("push with --insecure: %v\n%s", err, out)
	}
	hosts := dockerConfigDir(t, map[string]any{})
	os.MkdirAll(filepath.Join(hosts, "certs.d", plain), 0o755)
	os.WriteFile(filepath.Join(hosts, "certs.d", plain, "hosts.toml"), []byte("server = \"http://"+plain+"\"\n"), 0o644)
	if out, err := runWith(t, dir, []string{"DOCKER_CONFIG=" + hosts}, env.Binary, "inspect", plain+"/tls/m:v1"); err != nil {
		t.Errorf("inspect with a hosts.toml naming http://%s: %v\n%s", plain, err, out)
	}
}

// TestRegistryUploadsElsewhereGetNoCredentials: a token-auth registry sends
// its upload sessions to another host (as registries send them to storage).
// The push, with real credentials, succeeds with every upload request on
// that host, and neither the token nor the password ever reaches it.
func TestRegistryUploadsElsewhereGetNoCredentials(t *testing.T) {
	env := testEnv(t)
	l := newLab(t)
	ts := l.tokenServer(map[string]string{"alice": "pw-alice"}, func(user, repo string) []string { return []string{"pull", "push"} }, 5*time.Minute)
	uploads := &uploadHost{}
	reg := l.registry(regConfig{Token: ts, Uploads: uploads})
	dir, _ := weightsProject(t, env, reg+"/team/model")
	writeImageLayout(t, filepath.Join(dir, "img"))
	layout := "oci-layout://" + filepath.Join(dir, "img") + ":latest"
	trust := "SSL_CERT_FILE=" + caBundle(t, l.CA.File)
	cfg := dockerConfigDir(t, map[string]any{"auths": map[string]any{reg: map[string]string{"auth": basicAuth("alice", "pw-alice")}}})
	out, err := runWith(t, dir, []string{"DOCKER_CONFIG=" + cfg, trust}, env.Binary, "bundle", "--image", layout, "--push", reg+"/team/m:v1", "--progress", "plain")
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	mustContain(t, "push", out, "in 5 blob(s)")
	requests, auth := uploads.seen()
	patches, puts := 0, 0
	for _, r := range requests {
		switch {
		case strings.HasPrefix(r, "PATCH "):
			patches++
		case strings.HasPrefix(r, "PUT "):
			puts++
		}
	}
	t.Logf("the upload host saw %d requests (%d PATCH, %d PUT)", len(requests), patches, puts)
	if patches == 0 || puts < 5 {
		t.Errorf("the uploads did not go to the upload host (%d PATCH, %d PUT): %v", patches, puts, requests)
	}
	if len(auth) > 0 {
		t.Errorf("the upload host %s was sent credentials: %q", uploads.Addr, auth)
	}
	granted := 0
	for _, r := range ts.requests() {
		if r.User == "alice" && r.Status == 200 {
			granted++
		}
	}
	if granted == 0 {
		t.Errorf("the token server issued no token to alice: the push did not use the credentials")
	}
	out, err = runWith(t, dir, []string{"DOCKER_CONFIG=" + cfg, trust}, env.Binary, "inspect", reg+"/team/m:v1")
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	mustContain(t, "inspect", out, "minilm")
}

// TestRegistryPushBuiltModelAfterDockerLogin: `docker login` into a
// token-auth registry over TLS with a private CA, then `cog-frontend push`
// builds examples/hello and pushes it there.
func TestRegistryPushBuiltModelAfterDockerLogin(t *testing.T) {
	env := testEnv(t)
	l := newLab(t)
	ts := l.tokenServer(map[string]string{"alice": "pw-alice"}, func(user, repo string) []string { return []string{"pull", "push"} }, 5*time.Minute)
	reg := l.registry(regConfig{Token: ts})
	dir := prepareExample(t, env, hello.name, "")
	trust := "SSL_CERT_FILE=" + caBundle(t, l.CA.File)
	cfg := dockerConfigDir(t, map[string]any{})
	envs := []string{"DOCKER_CONFIG=" + cfg, trust}
	out, err := runWith(t, dir, append(slicesClone(envs), "DOCKER_HOST=unix:///nonexistent/docker.sock"), "sh", "-c", "printf pw-alice | docker login "+reg+" -u alice --password-stdin")
	if err != nil {
		t.Fatalf("docker login: %v\n%s", err, out)
	}
	ref := reg + "/team/hello:v1"
	out, err = runWith(t, dir, envs, env.Binary, "push", "--progress", "plain", ref)
	if err != nil {
		t.Fatalf("cog-frontend push %s: %v\n%s", ref, err, tail(out, 40))
	}
	mustContain(t, "push", out, "cog-image.v1")
	out, err = runWith(t, dir, envs, env.Binary, "inspect", ref)
	if err != nil {
		t.Fatalf("inspect %s: %v\n%s", ref, err, out)
	}
	mustContain(t, "inspect", out, "linux/amd64")
	pushed := false
	for _, r := range ts.requests() {
		for _, g := range r.Granted {
			if r.User == "alice" && strings.HasPrefix(g, "repository:team/hello:") && strings.Contains(g, "push") {
				pushed = true
			}
		}
	}
	if !pushed {
		t.Errorf("no push token for team/hello was issued to alice: %+v", ts.requests())
	}
}
