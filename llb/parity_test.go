package llb

import (
	"context"
	"github.com/cog-frontend/cog-frontend/wire"
	"slices"
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/config"
	bkllb "github.com/moby/buildkit/client/llb"
)

// TestCurlStaysInTheImage: curl is installed with tini (Cog fetches tini
// with it and keeps it); GPU images also get Cog's wget, xz-utils, git and
// ca-certificates.
func TestCurlStaysInTheImage(t *testing.T) {
	cpu := findExec(t, loadFixture(t, "../examples/hello").build(t).State, "[cog] install curl and tini").Meta.Args[2]
	if !strings.Contains(cpu, "--no-install-recommends curl tini ") {
		t.Errorf("CPU install = %q, want curl and tini", cpu)
	}
	gpu := findExec(t, loadFixture(t, "../testdata/llb/gpu").build(t).State, "[cog] install curl, tini").Meta.Args[2]
	if !strings.Contains(gpu, "--no-install-recommends curl tini wget xz-utils git ca-certificates ") {
		t.Errorf("GPU install = %q, want Cog's GPU packages", gpu)
	}
}

// TestRuntimePin: without sdk_version the image gets cog and coglet
// 0.22.0 (the Cog release these images match); sdk_version installs that
// cog and lets coglet follow its dependency, as Cog does. run.cog.version
// starts as the requested version and the frontend's own version has its
// own label.
func TestRuntimePin(t *testing.T) {
	f := loadFixture(t, "../examples/hello")
	f.opts.Version = "1.2.3"
	res := f.build(t)
	if cmd := findExec(t, res.State, "[cog] install cog 0.22.0").Meta.Args[2]; cmd != "uv pip install cog==0.22.0 coglet==0.22.0" {
		t.Errorf("default runtime install = %q", cmd)
	}
	if l := res.Image.Config.Labels; l[wire.LabelVersion] != "0.22.0" || l[wire.LabelFrontendVersion] != "1.2.3" {
		t.Errorf("labels %s=%q %s=%q, want 0.22.0 and 1.2.3", wire.LabelVersion, l[wire.LabelVersion], wire.LabelFrontendVersion, l[wire.LabelFrontendVersion])
	}
	f.cfg.Build.SDKVersion = "0.21.0"
	res = f.build(t)
	if cmd := findExec(t, res.State, "[cog] install cog 0.21.0").Meta.Args[2]; cmd != "uv pip install cog==0.21.0" {
		t.Errorf("sdk_version install = %q", cmd)
	}
	if v := res.Image.Config.Labels[wire.LabelVersion]; v != "0.21.0" {
		t.Errorf("run.cog.version = %q, want the sdk_version", v)
	}
}

func TestInstalledCogVersion(t *testing.T) {
	for freeze, want := range map[string]string{
		"anyio==4.0.0\ncog==0.22.0\ncoglet==0.22.0":                     "0.22.0",
		"Cog == 0.21.0rc1\n":                                            "0.21.0rc1",
		"cog @ file:///tmp/cog-0.22.0-py3-none-any.whl\ncoglet==0.22.0": "",
		"coglet==0.22.0\ncogs==1.0":                                     "",
	} {
		if got := InstalledCogVersion(freeze); got != want {
			t.Errorf("InstalledCogVersion(%q) = %q, want %q", freeze, got, want)
		}
	}
}

// TestCACert: a custom CA is installed right after the environment, before
// anything that reaches the network, and SSL_CERT_FILE and
// REQUESTS_CA_BUNDLE point every later step and the model at the bundle.
// Without one, nothing about trust changes.
func TestCACert(t *testing.T) {
	f := loadFixture(t, "../testdata/llb/cpu-full")
	res := f.build(t)
	for _, o := range execs(t, res.State) {
		if strings.Contains(o.Name, "CA certificate") {
			t.Errorf("CA step without a CA: %q", o.Name)
		}
	}
	if _, ok := envList(res.Image.Config.Env).get("SSL_CERT_FILE"); ok {
		t.Error("SSL_CERT_FILE set without a CA")
	}

	f.opts.CACert = []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	res = f.build(t)
	names := []string{}
	for _, o := range execs(t, res.State) {
		names = append(names, o.Name)
	}
	if len(names) < 2 || names[0] != "[cog] install CA certificate (COG_CA_CERT)" || names[1] != "[cog] install curl and tini" {
		t.Errorf("steps = %q, want the CA first, then curl and tini", names)
	}
	if got := mkfile(t, res.State, "/cog-ca-cert.crt"); got != string(f.opts.CACert) {
		t.Errorf("CA file = %q", got)
	}
	ca := findExec(t, res.State, "[cog] install CA certificate").Meta.Args[2]
	for _, want := range []string{"cp /tmp/cog-ca/cog-ca-cert.crt " + CACertPath, "update-ca-certificates", ">> " + CACertBundle} {
		if !strings.Contains(ca, want) {
			t.Errorf("CA step %q lacks %q", ca, want)
		}
	}
	env := envList(res.Image.Config.Env)
	for _, k := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"} {
		if v, _ := env.get(k); v != CACertBundle {
			t.Errorf("%s = %q, want %s", k, v, CACertBundle)
		}
	}
	tini := findExec(t, res.State, "[cog] install curl and tini")
	if !slices.Contains(tini.Meta.Env, "SSL_CERT_FILE="+CACertBundle) {
		t.Errorf("apt step does not see SSL_CERT_FILE: %q", tini.Meta.Env)
	}
}

// TestLocalRequirementArtifacts: a requirement naming a local wheel,
// archive or directory is resolved against the requirements file's
// directory (spaces are part of the name), copied out of the project and
// named at its mount in the filtered file.
func TestLocalRequirementArtifacts(t *testing.T) {
	data := []byte("build:\n  python_version: \"3.12\"\n  python_requirements: deps/requirements.txt\nrun: predict.py:Predictor\n")
	cfg, _, err := config.Parse("cog.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	reqs := "numpy==2.2.6\n./dist/local zip pkg-0.2.0.zip\n../wheels/w-0.3.0-py3-none-any.whl\n./srcpkg\nx.tar.gz\n./dist/local zip pkg-0.2.0.zip\n"
	res, err := Build(context.Background(), cfg, Options{Platform: amd64, Context: bkllb.Local("context"), ConfigData: data, Requirements: []byte(reqs)})
	if err != nil {
		t.Fatal(err)
	}
	d := LocalRequirementsDir
	want := "numpy==2.2.6\n" + d + "/deps/dist/local zip pkg-0.2.0.zip\n" + d + "/wheels/w-0.3.0-py3-none-any.whl\n" + d + "/deps/srcpkg\n" + d + "/deps/x.tar.gz\n" + d + "/deps/dist/local zip pkg-0.2.0.zip\n"
	if got := mkfile(t, res.State, "/requirements.txt"); got != want {
		t.Errorf("requirements =\n%s\nwant\n%s", got, want)
	}
	install := findExec(t, res.State, "[cog] install Python requirements")
	var mounted bool
	for _, m := range install.Mounts {
		mounted = mounted || (m.Dest == d && !m.Readonly)
	}
	if !mounted {
		t.Errorf("no writable mount at %s: %+v", d, install.Mounts)
	}
	dump := string(dumpState(t, res.State, amd64))
	for _, p := range []string{"/deps/dist/local zip pkg-0.2.0.zip", "/wheels/w-0.3.0-py3-none-any.whl", "/deps/srcpkg", "/deps/x.tar.gz"} {
		if strings.Count(dump, `"src": "`+p+`"`) != 1 {
			t.Errorf("%s is not copied out of the project exactly once", p)
		}
	}
}

func TestLocalRequirementArtifactErrors(t *testing.T) {
	data := []byte("build:\n  python_version: \"3.12\"\n  python_requirements: requirements.txt\nrun: predict.py:Predictor\n")
	cfg, _, err := config.Parse("cog.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	for line, want := range map[string]string{
		"-f https://example.com/wheels": "",
		"../outside.whl":                `requirements.txt line 2: "../outside.whl" resolves to "../outside.whl", outside the project`,
		"/abs/pkg.whl":                  `requirements.txt line 2: "/abs/pkg.whl" is an absolute path`,
		"./a.whl; python_version>3":     "environment markers are not supported on a local artifact",
		"pkg @ ./dist/pkg.whl":          "a local direct reference (name @ path) is not supported; list the path alone: ./dist/pkg.whl",
		"--find-links ./wheels":         "names a local path, which the install step cannot see",
		"--find-links=./wheels":         "names a local path, which the install step cannot see",
		"-e .":                          "names a local path, which the install step cannot see",
	} {
		_, err := Build(context.Background(), cfg, Options{Platform: amd64, Context: bkllb.Local("context"), ConfigData: data, Requirements: []byte("numpy\n" + line + "\n")})
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v, want it accepted", line, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "3:") {
			t.Errorf("%s: err = %v, want it at cog.yaml line 3 with %q", line, err, want)
		}
	}
}
