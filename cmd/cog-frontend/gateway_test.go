package main

import (
	"strings"
	"testing"
)

func TestGatewayNeedsABuildKitSession(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	err := checkGatewayEnvironment(env(nil))
	if err == nil || !strings.Contains(err.Error(), "cog-frontend build") {
		t.Errorf("a run by hand: got %v, want an error pointing at `cog-frontend build`", err)
	}
	// Docker Engine's embedded BuildKit may leave BUILDKIT_EXPORTEDPRODUCT
	// empty; only the session id matters.
	if err := checkGatewayEnvironment(env(map[string]string{envSessionID: "abc"})); err != nil {
		t.Errorf("BuildKit's environment without an exported product: %v", err)
	}
}

func TestPlainRunDoesNotServeTheGateway(t *testing.T) {
	// A session id a user happens to export must not switch the CLI into
	// gateway mode: only the entrypoint's argument does.
	t.Setenv(envSessionID, "abc")
	t.Setenv("BUILDKIT_EXPORTEDPRODUCT", "buildkit")
	root := newRootCmd()
	var out strings.Builder
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Usage:") {
		t.Errorf("--help under a BuildKit-looking environment printed %q, want the CLI help", out.String())
	}
}
