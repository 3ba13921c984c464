package frontend

import (
	"strings"
	"testing"

	"github.com/cog-frontend/cog-frontend/wire"
)

func TestParseOptionsFrontendOptionWinsOverBuildArg(t *testing.T) {
	o, err := ParseOptions(map[string]string{
		OptFormat:                       "standalone",
		"build-arg:" + BuildArgFormat:   "bundle",
		"build-arg:UNRELATED_BUILD_ARG": "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.Format != wire.FormatStandalone {
		t.Errorf("Format = %q, want %q (frontend option beats build arg)", o.Format, wire.FormatStandalone)
	}
	if o.Version != Version {
		t.Errorf("Version = %q, want the frontend's own %q", o.Version, Version)
	}
}

func TestParseOptionsDefaults(t *testing.T) {
	o, err := ParseOptions(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Format != "" || o.Version != Version {
		t.Errorf("got %+v, want empty format and Version %q", o, Version)
	}
}

func TestParseOptionsRejectsUnknownFormat(t *testing.T) {
	_, err := ParseOptions(map[string]string{"build-arg:" + BuildArgFormat: "tarball"})
	if err == nil {
		t.Fatal("want an error for format tarball")
	}
	for _, want := range []string{`"tarball"`, OptFormat, BuildArgFormat, wire.FormatBundle, wire.FormatStandalone} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestFormatFromTarget(t *testing.T) {
	for _, tgt := range []string{"", wire.FormatBundle, wire.FormatStandalone} {
		if got, err := formatFromTarget(tgt); err != nil || got != tgt {
			t.Errorf("formatFromTarget(%q) = %q, %v", tgt, got, err)
		}
	}
	_, err := formatFromTarget("final")
	if err == nil || !strings.Contains(err.Error(), `"final"`) || !strings.Contains(err.Error(), "--call targets") {
		t.Errorf("formatFromTarget(final) error = %v, want it to name the target and how to list targets", err)
	}
}

func TestCogFilename(t *testing.T) {
	for _, tc := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{}, "cog.yaml"},
		{map[string]string{"filename": ""}, "cog.yaml"},
		{map[string]string{"filename": "Dockerfile"}, "cog.yaml"},
		{map[string]string{"filename": "sub/Dockerfile"}, "sub/cog.yaml"},
		{map[string]string{"filename": "models/a/cog.yaml"}, "models/a/cog.yaml"},
		{map[string]string{"filename": "cog-gpu.yaml"}, "cog-gpu.yaml"},
	} {
		if got := cogFilename(tc.opts); got != tc.want {
			t.Errorf("cogFilename(%v) = %q, want %q", tc.opts, got, tc.want)
		}
	}
	if got := lockFilename("models/a/cog.yaml"); got != "models/a/weights.lock" {
		t.Errorf("lockFilename = %q", got)
	}
	if got := lockFilename("cog.yaml"); got != "weights.lock" {
		t.Errorf("lockFilename = %q", got)
	}
}

func TestWithFilenameDoesNotMutateCallerOptions(t *testing.T) {
	orig := map[string]string{"filename": "Dockerfile", "build-arg:A": "1"}
	c := newWithFilename(fakeClient{opts: orig})
	if got := c.BuildOpts().Opts["filename"]; got != "cog.yaml" {
		t.Errorf("wrapped filename = %q, want cog.yaml", got)
	}
	if orig["filename"] != "Dockerfile" {
		t.Errorf("caller's map was changed: %v", orig)
	}
	if c.BuildOpts().Opts["build-arg:A"] != "1" {
		t.Errorf("other options lost: %v", c.BuildOpts().Opts)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	if ts, err := sourceDateEpoch(map[string]string{}); err != nil || ts != nil {
		t.Errorf("no arg: %v, %v", ts, err)
	}
	ts, err := sourceDateEpoch(map[string]string{"SOURCE_DATE_EPOCH": "1700000000"})
	if err != nil || ts == nil || ts.Unix() != 1700000000 {
		t.Errorf("got %v, %v", ts, err)
	}
	if _, err := sourceDateEpoch(map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}); err == nil || !strings.Contains(err.Error(), `"yesterday"`) {
		t.Errorf("bad value error = %v", err)
	}
}

func TestParseOptionsSkipSchemaValidation(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "0": false, "false": false} {
		o, err := ParseOptions(map[string]string{"build-arg:" + BuildArgSkipSchemaValidation: v})
		if err != nil || o.SkipSchemaValidation != want {
			t.Errorf("%s=%s: got %v, %v; want %v", BuildArgSkipSchemaValidation, v, o.SkipSchemaValidation, err, want)
		}
	}
	if o, _ := ParseOptions(map[string]string{}); o.SkipSchemaValidation {
		t.Error("schema validation is skipped by default; Cog's cog build requires a predictor")
	}
	_, err := ParseOptions(map[string]string{OptSkipSchemaValidation: "sometimes"})
	if err == nil || !strings.Contains(err.Error(), `"sometimes"`) || !strings.Contains(err.Error(), BuildArgSkipSchemaValidation) {
		t.Errorf("want an error naming the value and the build arg, got %v", err)
	}
}
