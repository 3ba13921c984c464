package pull

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cog-frontend/cog-frontend/wire"
)

func TestParseV1RefusesInconsistentConfigs(t *testing.T) {
	l := digest.FromString("layer")
	f := `{"path":"a","layer":"` + l.String() + `","size":1,"digest":"` + digest.FromString("a").String() + `"}`
	set := "sha256:" + strings.Repeat("0", 64)
	m := ocispec.Manifest{Config: ocispec.Descriptor{MediaType: wire.MediaTypeWeightConfig},
		Layers: []ocispec.Descriptor{{MediaType: wire.MediaTypeLayerTar, Digest: l}}}
	cases := map[string]struct {
		cfg  string
		m    ocispec.Manifest
		want string
	}{
		"bad set digest":  {`{"name":"w","target":"/src/w","setDigest":"` + set + `","files":[` + f + `]}`, m, "set digest"},
		"relative target": {`{"name":"w","target":"src/w","setDigest":"` + set + `","files":[` + f + `]}`, m, "absolute"},
		"dot-dot path":    {`{"name":"w","target":"/src/w","setDigest":"` + set + `","files":[{"path":"../x","layer":"` + l.String() + `","size":1,"digest":"` + digest.FromString("a").String() + `"}]}`, m, ".."},
		"duplicate path":  {`{"name":"w","target":"/src/w","setDigest":"` + set + `","files":[` + f + `,` + f + `]}`, m, "twice"},
		"unknown layer":   {`{"name":"w","target":"/src/w","setDigest":"` + set + `","files":[{"path":"a","layer":"` + digest.FromString("x").String() + `","size":1,"digest":"` + digest.FromString("a").String() + `"}]}`, m, "does not list"},
		"unused layer":    {`{"name":"w","target":"/src/w","setDigest":"` + set + `","files":[]}`, m, "holds no file"},
		"bad digest":      {`{"name":"w","target":"/src/w","setDigest":"` + set + `","files":[{"path":"a","layer":"` + l.String() + `","size":1,"digest":"md5:x"}]}`, m, "want sha256"},
		"annotation":      {`{"name":"w","target":"/src/w","setDigest":"` + set + `","files":[` + f + `]}`, ocispec.Manifest{Config: m.Config, Layers: m.Layers, Annotations: map[string]string{wire.AnnotationWeightName: "other"}}, "disagrees"},
		"layer type":      {`{"name":"w","target":"/src/w","setDigest":"` + set + `","files":[` + f + `]}`, ocispec.Manifest{Config: m.Config, Layers: []ocispec.Descriptor{{MediaType: "application/x-tar-zstd", Digest: l}}}, "media type"},
		"not json":        {`{`, m, "config blob"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseV1(digest.Digest("sha256:"+strings.Repeat("1", 64)), c.m, []byte(c.cfg))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}

func TestParseV0RefusesBadLayers(t *testing.T) {
	good := map[string]string{wire.AnnotationLegacyWeightsDest: "/src/w.bin", wire.AnnotationLegacyWeightsDigestOriginal: digest.FromString("x").String(), wire.AnnotationLegacyWeightsSizeUncompressed: "1"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	l := func(a map[string]string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: MediaTypeV0Gzip, Digest: digest.FromString("l"), Annotations: a}
	}
	for name, c := range map[string]struct {
		layers []ocispec.Descriptor
		want   string
	}{
		"relative dest": {[]ocispec.Descriptor{l(with(wire.AnnotationLegacyWeightsDest, "w.bin"))}, "absolute"},
		"escape":        {[]ocispec.Descriptor{l(with(wire.AnnotationLegacyWeightsDest, "/src/../etc/x"))}, "clean"},
		"no digest":     {[]ocispec.Descriptor{l(with(wire.AnnotationLegacyWeightsDigestOriginal, ""))}, "want sha256"},
		"no size":       {[]ocispec.Descriptor{l(with(wire.AnnotationLegacyWeightsSizeUncompressed, "big"))}, "byte count"},
		"twice":         {[]ocispec.Descriptor{l(good), l(good)}, "two layers"},
		"none":          {nil, "no layers"},
		"media type":    {[]ocispec.Descriptor{{MediaType: "text/plain", Digest: digest.FromString("l"), Annotations: good}}, "media type"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseV0(digest.FromString("m"), ocispec.Manifest{Layers: c.layers})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestWeightDescriptorsSkipsImagesAndAttestations(t *testing.T) {
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{
		{Digest: "sha256:1", Platform: &ocispec.Platform{OS: "linux"}},
		{Digest: "sha256:2", Annotations: map[string]string{wire.AnnotationDockerReferenceType: wire.DockerReferenceTypeAttestation, wire.AnnotationReferenceType: wire.ReferenceTypeWeights}},
		{Digest: "sha256:3", ArtifactType: wire.ArtifactTypeWeight},
		{Digest: "sha256:4", Annotations: map[string]string{wire.AnnotationReferenceType: wire.ReferenceTypeWeights}},
	}}
	got := WeightDescriptors(idx)
	if len(got) != 2 || got[0].Digest != "sha256:3" || got[1].Digest != "sha256:4" {
		t.Fatalf("%v", got)
	}
	if sniffMediaType([]byte(`{"manifests":[]}`)) != ocispec.MediaTypeImageIndex || sniffMediaType([]byte(`{}`)) != ocispec.MediaTypeImageManifest {
		t.Fatal("sniffMediaType")
	}
}
