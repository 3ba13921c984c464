//go:build e2e

package e2e

// Cog parity of the image itself: the runtime pin and its labels, curl in
// the image, a custom CA (COG_CA_CERT) on every route, and requirements
// that name local artifacts. Each builds through the real buildkitd and
// runs the image under runc.

import (
	"archive/zip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cog-frontend/cog-frontend/frontend"
	"golang.org/x/sys/unix"
)

// parityProject writes a model project whose cog.yaml names the frontend
// image on its syntax line.
func parityProject(t *testing.T, e *Env, cogYAML, predictPy string, extra map[string]string) string {
	t.Helper()
	files := map[string]string{
		"cog.yaml":   "# syntax=" + frontendImage(t, e) + "\n" + cogYAML,
		"predict.py": predictPy,
	}
	for k, v := range extra {
		files[k] = v
	}
	return writeFiles(t, files)
}

// buildxLayout builds dir through the frontend image into an OCI layout.
func buildxLayout(t *testing.T, e *Env, dir string, args ...string) string {
	t.Helper()
	layout := filepath.Join(t.TempDir(), "oci")
	mustBuildx(t, e, dir, append(append([]string{"-f", "cog.yaml"}, args...), "--output", "type=oci,dest="+layout+",tar=false", ".")...)
	return layout
}

// execIn runs a command inside the running container (runc exec), with the
// image's environment.
func (c *container) execIn(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "runc", append([]string{"exec", c.ID}, args...)...).CombinedOutput()
	return string(out), err
}

// predict posts input and returns the prediction's status, output and
// error.
func (c *container) predict(t *testing.T, input string) (status string, output any, errText string) {
	t.Helper()
	out, _ := c.curlErr(t, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"input":`+input+`}`, "http://127.0.0.1:5000/predictions")
	var p struct {
		Status string `json:"status"`
		Output any    `json:"output"`
		Error  any    `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("POST /predictions %s: %v: %s\ncontainer log:\n%s", input, err, out, c.logs())
	}
	return p.Status, p.Output, fmt.Sprint(p.Error)
}

// TestParityRuntimeVersionCurlAndHealthChecks: with no sdk_version the image
// has cog 0.22.0; run.cog.version is the installed cog (as pip freeze has
// it) and the schema's info.version is the same; the frontend's own version
// is in org.cogfrontend.version. curl runs inside the image. Fifty health
// checks in a row answer READY against a predictor with its own
// healthcheck(), and predictions still work after them.
func TestParityRuntimeVersionCurlAndHealthChecks(t *testing.T) {
	e := testEnv(t)
	dir := parityProject(t, e, "build:\n  python_version: \"3.12\"\npredict: \"predict.py:Predictor\"\n",
		`from cog import BasePredictor


class Predictor(BasePredictor):
    def __init__(self):
        self.calls = 0

    def predict(self, text: str) -> str:
        return f"hello {text}"

    def healthcheck(self) -> bool:
        self.calls += 1
        return True
`, nil)
	layout := buildxLayout(t, e, dir)
	labels := layoutImage(t, layout).Config.Labels

	var installed string
	for _, l := range strings.Split(labels["run.cog.pip_freeze"], "\n") {
		if v, ok := strings.CutPrefix(l, "cog=="); ok {
			installed = v
		}
	}
	if installed != "0.22.0" {
		t.Errorf("pip freeze has cog %q, want the default 0.22.0:\n%s", installed, labels["run.cog.pip_freeze"])
	}
	if !strings.Contains(labels["run.cog.pip_freeze"], "coglet==0.22.0") {
		t.Errorf("pip freeze has no coglet==0.22.0:\n%s", labels["run.cog.pip_freeze"])
	}
	if labels["run.cog.version"] != installed {
		t.Errorf("run.cog.version = %q, want the installed cog %q", labels["run.cog.version"], installed)
	}
	if labels["org.cogfrontend.version"] != "e2e" {
		t.Errorf("org.cogfrontend.version = %q, want the frontend image's version e2e", labels["org.cogfrontend.version"])
	}
	var schema struct {
		Info struct{ Version string } `json:"info"`
	}
	if err := json.Unmarshal([]byte(labels["run.cog.openapi_schema"]), &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Info.Version != labels["run.cog.version"] {
		t.Errorf("schema info.version = %q, want run.cog.version %q", schema.Info.Version, labels["run.cog.version"])
	}

	c := runImage(t, layout, "latest", nil)
	c.waitReady(t, 3*time.Minute)
	if out, err := c.execIn(t, "curl", "--version"); err != nil || !strings.HasPrefix(out, "curl ") {
		t.Errorf("curl --version inside the image: %v: %s", err, out)
	}
	if out, err := c.execIn(t, "python", "-c", "import cog; print(cog.__version__)"); err != nil || strings.TrimSpace(out) != labels["run.cog.version"] {
		t.Errorf("cog.__version__ in the image = %q (%v), want run.cog.version %q", out, err, labels["run.cog.version"])
	}
	for i := range 50 {
		out := c.curl(t, "http://127.0.0.1:5000/health-check")
		if !strings.Contains(out, `"status":"READY"`) {
			t.Fatalf("health check %d = %s, want READY\ncontainer log:\n%s", i+1, out, c.logs())
		}
	}
	if st, out, _ := c.predict(t, `{"text":"world"}`); st != "succeeded" || out != "hello world" {
		t.Errorf("prediction after 50 health checks: %s %v", st, out)
	}
	if out := c.curl(t, "http://127.0.0.1:5000/health-check"); !strings.Contains(out, `"status":"READY"`) {
		t.Errorf("health check after the prediction = %s", out)
	}
}

// testPKI is a self-signed CA and a server certificate it signed for
// 127.0.0.1.
type testPKI struct {
	caPEM  []byte
	server tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cog-frontend e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return testPKI{
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
	}
}

// serveHTTPS answers "OK from the CA test server" over TLS on l until the
// test ends.
func serveHTTPS(t *testing.T, l net.Listener, cert tls.Certificate) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "OK from the CA test server")
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ErrorLog: nil}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
}

// listenInNetns opens a TCP listener on 127.0.0.1:port inside the network
// namespace of process pid (a container): a socket stays in the namespace
// it was made in, so the server then runs from this process like any
// other. The switch happens on a locked thread that is discarded after.
func listenInNetns(t *testing.T, pid, port int) net.Listener {
	t.Helper()
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread's namespace changed, so it exits with
		// this goroutine instead of going back to the scheduler.
		runtime.LockOSThread()
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("setns: %w", err)}
			return
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		ch <- result{l, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listening in the container's network namespace: %v", r.err)
	}
	return r.l
}

// TestParityCACert: COG_CA_CERT reaches every route. A build.run step
// fetches from an HTTPS server whose certificate only the test CA signs
// (RUN steps of the dev buildkitd share the host's network, so it listens
// on the host's loopback), and the running model fetches from the same kind
// of server inside its own network namespace, with Python's urllib and with
// curl. Without the CA both fail, and the image carries no CA of ours.
func TestParityCACert(t *testing.T) {
	e := testEnv(t)
	pki := newTestPKI(t)
	hostL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveHTTPS(t, hostL, pki.server)
	hostURL := "https://" + hostL.Addr().String() + "/"

	const modelPort = 8443
	modelURL := fmt.Sprintf("https://127.0.0.1:%d/", modelPort)
	predictPy := `import urllib.request

from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self, url: str) -> str:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()
`
	withRun := "build:\n  python_version: \"3.12\"\n  run:\n    - curl --fail --silent --show-error --max-time 10 " + hostURL + " > /ca-run-step.txt\npredict: \"predict.py:Predictor\"\n"
	dir := parityProject(t, e, withRun, predictPy, nil)

	// Without the CA the build.run step cannot verify the server.
	out, err := runErr(t, dir, "docker", "buildx", "build", "--builder", e.Builder, "--progress=plain", "-f", "cog.yaml", "--output", "type=cacheonly", ".")
	if err == nil {
		t.Fatalf("build.run reached %s without the CA:\n%s", hostURL, tail(out, 30))
	}
	if !strings.Contains(out, "SSL certificate problem") {
		t.Errorf("the failure without the CA is not a certificate error:\n%s", tail(out, 30))
	}

	// buildx route: the CA's PEM as the COG_CA_CERT build arg.
	layout := buildxLayout(t, e, dir, "--build-arg", "COG_CA_CERT="+string(pki.caPEM))
	img := layoutImage(t, layout)
	env := strings.Join(img.Config.Env, "\n")
	for _, want := range []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt"} {
		if !strings.Contains(env, want) {
			t.Errorf("image env lacks %s:\n%s", want, env)
		}
	}
	c := runImage(t, layout, "latest", nil)
	if dt, err := os.ReadFile(filepath.Join(c.Bundle, "rootfs", "ca-run-step.txt")); err != nil || string(dt) != "OK from the CA test server" {
		t.Errorf("build.run step's fetch = %q (%v)", dt, err)
	}
	serveHTTPS(t, listenInNetns(t, c.PID, modelPort), pki.server)
	c.waitReady(t, 3*time.Minute)
	if st, got, errText := c.predict(t, `{"url":"`+modelURL+`"}`); st != "succeeded" || got != "OK from the CA test server" {
		t.Errorf("the model's urllib fetch with the CA: %s %v %s\ncontainer log:\n%s", st, got, errText, c.logs())
	}
	if out, err := c.execIn(t, "curl", "--fail", "--silent", "--show-error", "--max-time", "10", modelURL); err != nil || out != "OK from the CA test server" {
		t.Errorf("curl inside the image with the CA: %v: %s", err, out)
	}

	// cog-frontend route: COG_CA_CERT names a directory holding the CA, as
	// Cog accepts; the CLI reads it and the build is the same (all cached).
	caDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(caDir, "test-ca.crt"), pki.caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cliLayout := filepath.Join(t.TempDir(), "cli-oci")
	cmd := exec.CommandContext(t.Context(), e.Binary, "build", dir, "--progress", "plain", "--output", "type=oci,dest="+cliLayout)
	cmd.Env = append(os.Environ(), "COG_CA_CERT="+caDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cog-frontend build with COG_CA_CERT=%s: %v\n%s", caDir, err, tail(string(out), 40))
	} else if !strings.Contains(string(out), "install CA certificate (COG_CA_CERT)") {
		t.Errorf("cog-frontend build did not install the CA:\n%s", tail(string(out), 40))
	}

	// The CA is in the image's bundle.
	caBody := strings.Split(string(pki.caPEM), "\n")[1]
	if dt, err := os.ReadFile(filepath.Join(c.Bundle, "rootfs", "etc/ssl/certs/ca-certificates.crt")); err != nil || !strings.Contains(string(dt), caBody) {
		t.Errorf("the image's CA bundle lacks the test CA (%v)", err)
	}

	// No CA: the model cannot verify the server, and no CA of ours is in
	// the trust store. (The dev environment's base images set SSL_CERT_FILE
	// themselves, so only REQUESTS_CA_BUNDLE tells.)
	plain := parityProject(t, e, "build:\n  python_version: \"3.12\"\npredict: \"predict.py:Predictor\"\n", predictPy, nil)
	plainLayout := buildxLayout(t, e, plain)
	if env := strings.Join(layoutImage(t, plainLayout).Config.Env, "\n"); strings.Contains(env, "REQUESTS_CA_BUNDLE") {
		t.Errorf("image without a CA sets REQUESTS_CA_BUNDLE:\n%s", env)
	}
	pc := runImage(t, plainLayout, "latest", nil)
	if _, err := os.Stat(filepath.Join(pc.Bundle, "rootfs", "usr/local/share/ca-certificates/cog-ca-cert.crt")); err == nil {
		t.Error("image without a CA has /usr/local/share/ca-certificates/cog-ca-cert.crt")
	}
	if dt, err := os.ReadFile(filepath.Join(pc.Bundle, "rootfs", "etc/ssl/certs/ca-certificates.crt")); err == nil && strings.Contains(string(dt), caBody) {
		t.Error("the image without a CA trusts the test CA")
	}
	serveHTTPS(t, listenInNetns(t, pc.PID, modelPort), pki.server)
	pc.waitReady(t, 3*time.Minute)
	if st, got, errText := pc.predict(t, `{"url":"`+modelURL+`"}`); st != "failed" || !strings.Contains(errText, "CERTIFICATE_VERIFY_FAILED") {
		t.Errorf("the model's fetch without the CA: %s %v %q, want failed with CERTIFICATE_VERIFY_FAILED", st, got, errText)
	}
	if out, err := pc.execIn(t, "curl", "--fail", "--silent", "--show-error", "--max-time", "10", modelURL); err == nil {
		t.Errorf("curl inside the image without the CA succeeded: %s", out)
	}
}

// TestParityLocalRequirementArtifacts: requirements.txt naming a local
// source archive whose name has spaces and a local wheel, resolved
// against the requirements file and brought into the build; the code that
// made them is gone, so the imports work only if they were installed.
func TestParityLocalRequirementArtifacts(t *testing.T) {
	e := testEnv(t)
	dir := parityProject(t, e,
		"build:\n  python_version: \"3.12\"\n  python_requirements: requirements.txt\npredict: predict.py:Predictor\n",
		`from importlib.metadata import version

from cog import BasePredictor

from local_wheel_pkg import MESSAGE as WHEEL_MESSAGE
from local_zip_pkg import MESSAGE as ZIP_MESSAGE


class Predictor(BasePredictor):
    def predict(self) -> str:
        return f"{ZIP_MESSAGE} {version('local-zip-pkg')}; {WHEEL_MESSAGE} {version('local-wheel-pkg')}"
`,
		map[string]string{"requirements.txt": "./dist/local zip pkg-0.2.0.zip\n./dist/local_wheel_pkg-0.3.0-py3-none-any.whl\n"})
	writeZip(t, filepath.Join(dir, "dist", "local zip pkg-0.2.0.zip"), map[string]string{
		"local-zip-pkg-0.2.0/setup.py":                  "from setuptools import setup\n\nsetup(name=\"local-zip-pkg\", version=\"0.2.0\", packages=[\"local_zip_pkg\"])\n",
		"local-zip-pkg-0.2.0/local_zip_pkg/__init__.py": "MESSAGE = \"zip package\"\n",
	})
	info := "local_wheel_pkg-0.3.0.dist-info"
	writeZip(t, filepath.Join(dir, "dist", "local_wheel_pkg-0.3.0-py3-none-any.whl"), map[string]string{
		"local_wheel_pkg/__init__.py": "MESSAGE = \"wheel package\"\n",
		info + "/METADATA":            "Metadata-Version: 2.1\nName: local-wheel-pkg\nVersion: 0.3.0\n",
		info + "/WHEEL":               "Wheel-Version: 1.0\nGenerator: cog-frontend-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		info + "/RECORD":              "local_wheel_pkg/__init__.py,,\n" + info + "/METADATA,,\n" + info + "/WHEEL,,\n" + info + "/RECORD,,\n",
	})
	layout := buildxLayout(t, e, dir)
	c := runImage(t, layout, "latest", nil)
	c.waitReady(t, 3*time.Minute)
	if st, out, errText := c.predict(t, `{}`); st != "succeeded" || out != "zip package 0.2.0; wheel package 0.3.0" {
		t.Errorf("prediction = %s %v %s\ncontainer log:\n%s", st, out, errText, c.logs())
	}
}

func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestParityNoPredictor: as Cog 0.22.0, a cog.yaml naming no predictor
// fails `cog build` (and serve, predict, train) before any build step,
// with Cog's message at cog.yaml; with schema validation skipped, as
// `cog exec` builds, it is an environment image without a schema.
func TestParityNoPredictor(t *testing.T) {
	e := testEnv(t)
	dir := schemaProject(t, e, "", nil)
	out, err := buildx(t, e, dir, "-f", "cog.yaml", "--output", "type=cacheonly", ".")
	if err == nil {
		t.Fatalf("a cog.yaml without run:/predict:/train: built; Cog refuses it:\n%s", tail(out, 30))
	}
	for _, want := range []string{"no predict or train reference found in cog.yaml", "cog.yaml:1", frontend.BuildArgSkipSchemaValidation + "=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("buildx output lacks %q:\n%s", want, tail(out, 30))
		}
	}
	if strings.Contains(out, "[cog] base image") {
		t.Errorf("the build ran a build step before refusing:\n%s", tail(out, 30))
	}

	layout := buildxLayout(t, e, dir, "--build-arg", frontend.BuildArgSkipSchemaValidation+"=1")
	labels := layoutImage(t, layout).Config.Labels
	if s, ok := labels["run.cog.openapi_schema"]; ok {
		t.Errorf("the environment image has a schema label %q; it has no predictor", s)
	}
	if labels["run.cog.version"] == "" {
		t.Errorf("the environment image lacks run.cog.version (the cog package is still installed): %v", labels)
	}
}
