package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"

	"github.com/cog-frontend/cog-frontend/wire"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// memBlob is a blob held in memory, for tests.
func memBlob(mt string, b []byte) Blob {
	return Blob{
		Descriptor: ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))},
		Open:       func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
	}
}

// testWeight builds a weight in the spec's manifest format (§8) from layer
// bytes (raw, not real tars: the exporter does not look inside layers).
func testWeight(name, target string, layers ...[]byte) Weight {
	set := digest.FromString(name + "-set")
	cfg := []byte(`{"name":"` + name + `","target":"` + target + `","setDigest":"` + set.String() + `","files":[]}`)
	w := Weight{Name: name, SetDigest: set.String(), Config: memBlob(wire.MediaTypeWeightConfig, cfg)}
	type layer struct {
		MediaType   string            `json:"mediaType"`
		Size        int64             `json:"size"`
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
	}
	var ls []layer
	for _, l := range layers {
		b := memBlob("application/vnd.oci.image.layer.v1.tar", l)
		w.Layers = append(w.Layers, b)
		w.Size += int64(len(l))
		ls = append(ls, layer{b.Descriptor.MediaType, b.Descriptor.Size, b.Descriptor.Digest.String(), map[string]string{wire.AnnotationWeightSizeUncompressed: strconv.Itoa(len(l))}})
	}
	m := map[string]any{
		"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "artifactType": wire.ArtifactTypeWeight,
		"config":      map[string]any{"mediaType": wire.MediaTypeWeightConfig, "size": len(cfg), "digest": w.Config.Descriptor.Digest},
		"layers":      ls,
		"annotations": map[string]string{wire.AnnotationWeightName: name, wire.AnnotationWeightSetDigest: set.String(), wire.AnnotationWeightTarget: target},
	}
	w.Manifest, _ = json.Marshal(m)
	return w
}
