package wire

import (
	"strings"
	"testing"
)

func TestSanitizeTagName(t *testing.T) {
	for in, want := range map[string]string{
		"minilm":                 "minilm",
		"my.model/v2":            "my-model-v2",
		"--a..b__c--":            "a-b__c",
		"":                       "unnamed",
		"...":                    "unnamed",
		strings.Repeat("x", 200): strings.Repeat("x", 104),
	} {
		if got := SanitizeTagName(in); got != want {
			t.Errorf("SanitizeTagName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := WeightTag("my.model", "sha256:0123456789abcdef0000"); got != "cog-weight.my-model.0123456789ab" {
		t.Errorf("WeightTag = %q", got)
	}
	if len(WeightTag(strings.Repeat("x", 300), "sha256:"+strings.Repeat("f", 64))) > 128 {
		t.Error("weight tag longer than 128 characters")
	}
	if got := ImageTag("v1"); got != "cog-image.v1" {
		t.Errorf("ImageTag = %q", got)
	}
}

func TestResolveFormatIsTheOneDefault(t *testing.T) {
	for _, c := range []struct {
		req        string
		hasWeights bool
		want       string
	}{
		{"", true, FormatBundle},
		{"", false, FormatStandalone},
		{FormatStandalone, true, FormatStandalone},
		{FormatBundle, false, FormatBundle},
	} {
		if got := ResolveFormat(c.req, c.hasWeights); got != c.want {
			t.Errorf("ResolveFormat(%q, %v) = %q, want %q", c.req, c.hasWeights, got, c.want)
		}
	}
	if IsFormat("") || !IsFormat(FormatBundle) || IsFormat("oci") {
		t.Error("IsFormat")
	}
}
