package config

import (
	"bytes"
	"strings"
	"testing"
)

const (
	d1       = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2       = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	d3       = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	d4       = "sha256:4444444444444444444444444444444444444444444444444444444444444444"
	envelope = "sha256:ce2d53f8dd962ace393450e0abadbe227304897be87753a503b61f9c8525726e"
)

// canonicalLockText is what MarshalLock must write byte for byte.
const canonicalLockText = `{
  "version": 1,
  "envelopeFormat": "` + envelope + `",
  "weights": [
    {
      "name": "minilm",
      "target": "/src/weights/minilm",
      "sources": [
        {
          "uri": "file://./weights/minilm",
          "fingerprint": "` + d4 + `",
          "include": [],
          "exclude": [
            "onnx/"
          ]
        }
      ],
      "importedAt": "2026-06-12T16:41:25.807184Z",
      "digest": "` + d3 + `",
      "setDigest": "` + d4 + `",
      "size": 700,
      "sizeCompressed": 650,
      "files": [
        {
          "path": "a/config.json",
          "size": 600,
          "digest": "` + d1 + `",
          "layer": "` + d2 + `"
        },
        {
          "path": "b\u003cc\u003e.json",
          "size": 100,
          "digest": "` + d2 + `",
          "layer": "` + d1 + `"
        }
      ],
      "layers": [
        {
          "digest": "` + d1 + `",
          "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
          "size": 50,
          "sizeUncompressed": 100
        },
        {
          "digest": "` + d2 + `",
          "mediaType": "application/vnd.oci.image.layer.v1.tar",
          "size": 600,
          "sizeUncompressed": 600
        }
      ]
    }
  ]
}`

// sampleLock is canonicalLockText as a value, with lists deliberately out
// of canonical order and nil include.
func sampleLock() *Lock {
	return &Lock{Version: 1, EnvelopeFormat: envelope, Weights: []LockWeight{{
		Name: "minilm", Target: "/src/weights/minilm",
		Sources:    []LockSource{{URI: "file://./weights/minilm", Fingerprint: d4, Exclude: []string{"onnx/"}}},
		ImportedAt: "2026-06-12T16:41:25.807184Z", Digest: d3, SetDigest: d4, Size: 700, SizeCompressed: 650,
		Files: []LockFile{
			{Path: "b<c>.json", Size: 100, Digest: d2, Layer: d1},
			{Path: "a/config.json", Size: 600, Digest: d1, Layer: d2},
		},
		Layers: []LockLayer{
			{Digest: d2, MediaType: "application/vnd.oci.image.layer.v1.tar", Size: 600, SizeUncompressed: 600},
			{Digest: d1, MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Size: 50, SizeUncompressed: 100},
		},
	}}}
}

func TestMarshalLockCanonicalBytes(t *testing.T) {
	in := sampleLock()
	got, err := MarshalLock(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != canonicalLockText {
		t.Errorf("MarshalLock:\n%s\nwant:\n%s", got, canonicalLockText)
	}
	if in.Weights[0].Files[0].Path != "b<c>.json" || in.Weights[0].Sources[0].Include != nil {
		t.Error("MarshalLock modified its input")
	}
}

func TestLockRoundTrip(t *testing.T) {
	lock, err := ParseLock("weights.lock", []byte(canonicalLockText))
	if err != nil {
		t.Fatalf("ParseLock: %v", err)
	}
	if lock.Version != 1 || lock.Weights[0].Files[1].Path != "b<c>.json" || lock.Weights[0].Sources[0].Include == nil {
		t.Errorf("parsed = %+v", lock)
	}
	again, err := MarshalLock(lock)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, []byte(canonicalLockText)) {
		t.Errorf("round trip changed the bytes:\n%s", again)
	}
	// Compact and tab-indented JSON with "\/" escapes read the same.
	compact := strings.NewReplacer("\n", "", "  ", "\t", `"onnx/"`, `"onnx\/"`).Replace(canonicalLockText)
	lock2, err := ParseLock("", []byte(compact))
	if err != nil {
		t.Fatalf("ParseLock(compact): %v", err)
	}
	b2, _ := MarshalLock(lock2)
	if !bytes.Equal(b2, []byte(canonicalLockText)) {
		t.Errorf("compact input did not give canonical output:\n%s", b2)
	}
}

func TestMarshalLockEmpty(t *testing.T) {
	got, _ := MarshalLock(&Lock{Version: 1, EnvelopeFormat: envelope})
	want := "{\n  \"version\": 1,\n  \"envelopeFormat\": \"" + envelope + "\",\n  \"weights\": []\n}"
	if string(got) != want {
		t.Errorf("got %q", got)
	}
	if _, err := ParseLock("", got); err != nil {
		t.Errorf("ParseLock(empty lock): %v", err)
	}
}

func TestParseLockRejects(t *testing.T) {
	edit := func(old, new string) string {
		if !strings.Contains(canonicalLockText, old) {
			panic("fixture does not contain " + old)
		}
		return strings.Replace(canonicalLockText, old, new, 1)
	}
	cases := []struct {
		name, text, at, path string
		contains             []string
	}{
		{"february 2026 format", `{"version": "1", "created": "2026-02-01T00:00:00Z", "files": []}`, "1:13", "version",
			[]string{"February 2026", "cog-frontend weights import"}},
		{"version 2", edit(`"version": 1`, `"version": 2`), "2:14", "version", []string{"unsupported weights.lock version", "(got 2)", "version 1"}},
		{"version float", edit(`"version": 1`, `"version": 1.0`), "2:14", "version", []string{"(got 1.0)"}},
		{"unknown top key", edit(`"version": 1,`, `"version": 1, "extra": true,`), "2:17", "extra", []string{"unknown key", `"extra"`}},
		{"unknown weight key", edit(`"name": "minilm",`, `"name": "minilm", "dest": "/x",`), "6:25", "weights[0].dest", []string{"unknown key"}},
		{"missing digest", edit(`"digest": "`+d3+`",`, ``), "5:5", "weights[0].digest", []string{"is required"}},
		{"bad digest", edit(`"setDigest": "`+d4, `"setDigest": "sha256:xyz`), "20:20", "weights[0].setDigest", []string{"sha256 digest", `"sha256:xyz"`}},
		{"negative size", edit(`"size": 100,`, `"size": -1,`), "32:19", "weights[0].files[1].size", []string{"whole number", "(got -1)"}},
		{"string size", edit(`"size": 100,`, `"size": "100",`), "32:19", "weights[0].files[1].size", []string{`(got "100")`}},
		{"size mismatch", edit(`"size": 700,`, `"size": 701,`), "21:7", "weights[0].size", []string{"sum of the layers", "(700)"}},
		{"file layer missing", edit(`"layer": "`+d1, `"layer": "`+d3), "34:11", "weights[0].files[1].layer", []string{"not in layers"}},
		{"uri not normalised", edit(`"file://./weights/minilm"`, `"weights/minilm"`), "10:18", "weights[0].sources[0].uri", []string{"normalised", `"weights/minilm"`}},
		{"bad imported at", edit(`2026-06-12T16:41:25.807184Z`, `yesterday`), "18:21", "weights[0].importedAt", []string{"RFC 3339"}},
		{"duplicate key", edit(`"version": 1,`, `"version": 1, "version": 1,`), "2:17", "version", []string{"set twice"}},
		{"syntax error", edit(`"version": 1,`, `"version": 1,,`), "2:16", "", []string{"not valid JSON"}},
		{"truncated", canonicalLockText[:200], "", "", []string{"not valid JSON"}},
		{"not an object", `[1]`, "1:1", "", []string{"must be a JSON object"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLock("weights.lock", []byte(tc.text))
			if err == nil {
				t.Fatal("ParseLock accepted it")
			}
			var found *Error
			for _, e := range Errors(err) {
				if e.Path == tc.path && (tc.at == "" || posString(e.Pos) == tc.at) {
					found = e
				}
			}
			if found == nil {
				t.Fatalf("no error at %s for %q; got:\n%v", tc.at, tc.path, err)
			}
			if !strings.HasPrefix(found.Error(), "weights.lock:"+tc.at) {
				t.Errorf("message %q lacks position %s", found, tc.at)
			}
			for _, c := range tc.contains {
				if !strings.Contains(found.Error(), c) {
					t.Errorf("message %q does not contain %q", found, c)
				}
			}
			// weights.lock is generated: every problem says what to run,
			// and not "re-run the import" (it refuses this lock too).
			for _, e := range Errors(err) {
				if !strings.Contains(e.Msg, "delete it and run `cog-frontend weights import`") {
					t.Errorf("message %q does not say what to run", e)
				}
			}
		})
	}
}

func TestParseLockDuplicates(t *testing.T) {
	lock := sampleLock()
	second := lock.Weights[0]
	second.Target = "/src/weights/other"
	lock.Weights = append(lock.Weights, second)
	data, _ := MarshalLock(lock)
	_, err := ParseLock("weights.lock", data)
	if err == nil || !strings.Contains(err.Error(), `weights[1].name: weight name appears twice (got "minilm")`) {
		t.Errorf("duplicate name: %v", err)
	}
	lock.Weights[1].Name = "other"
	lock.Weights[1].Target = "/src/weights/minilm"
	data, _ = MarshalLock(lock)
	_, err = ParseLock("weights.lock", data)
	if err == nil || !strings.Contains(err.Error(), `weights[1].target: weight target appears twice (got "/src/weights/minilm")`) {
		t.Errorf("duplicate target: %v", err)
	}
}

// Cog stores include/exclude patterns sorted (they are a set), so a lock
// written by either tool has the same bytes whatever order cog.yaml uses.
func TestMarshalLockSortsPatterns(t *testing.T) {
	in := sampleLock()
	in.Weights[0].Sources[0].Include = []string{"*.safetensors", "*.json"}
	got, err := MarshalLock(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "\"include\": [\n            \"*.json\",\n            \"*.safetensors\"\n          ]") {
		t.Errorf("include not sorted:\n%s", got)
	}
	if in.Weights[0].Sources[0].Include[0] != "*.safetensors" {
		t.Error("MarshalLock modified its input")
	}
}
