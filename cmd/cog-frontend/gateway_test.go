package main

import "testing"

func TestStartedByBuildKitNeedsTheGatewayEnvironment(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if startedByBuildKit(env(nil)) {
		t.Error("claimed a plain CLI run")
	}
	if startedByBuildKit(env(map[string]string{envSessionID: "abc"})) {
		t.Error("claimed a run with only a session id (a user may export one)")
	}
	if !startedByBuildKit(env(map[string]string{envSessionID: "abc", envExportedProduct: "buildkit"})) {
		t.Error("did not recognise BuildKit's gateway environment")
	}
}
