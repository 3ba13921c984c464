// Package wire is Cog's vocabulary on the wire, in one place: media types,
// annotation keys, tag names, image labels, paths inside the image, file
// names and output formats (spec/weights-v1.md, spec/cog-image.md). Every
// package that writes or reads these strings imports them from here; the
// values are facts about Cog's ecosystem and change only with it.
//
// It holds names and the pure rules that derive names (tags, the default
// format), nothing that does I/O.
package wire

import ocispec "github.com/opencontainers/image-spec/specs-go/v1"

// Media and artifact types of weights (spec §4, §8).
const (
	ArtifactTypeWeight    = "application/vnd.cog.weight.v1"
	MediaTypeWeightConfig = "application/vnd.cog.weight.config.v1+json"
	// Weight layers are plain OCI layers: raw tar, or tar+gzip.
	MediaTypeLayerTar     = ocispec.MediaTypeImageLayer
	MediaTypeLayerTarGzip = ocispec.MediaTypeImageLayerGzip

	// ArtifactTypeLegacyWeights is the February 2026 ("v0 bundle") weights
	// artifact: read, never written.
	ArtifactTypeLegacyWeights = "application/vnd.cog.weights.v1"
)

// Manifest media types in the Docker formats that registries and BuildKit
// still produce, read beside the OCI ones.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// Annotations of weight manifests, their layers and their index descriptors
// (spec §8, §9).
const (
	AnnotationWeightName             = "run.cog.weight.name"
	AnnotationWeightTarget           = "run.cog.weight.target"
	AnnotationWeightSetDigest        = "run.cog.weight.set-digest"
	AnnotationWeightSizeUncompressed = "run.cog.weight.size.uncompressed"

	AnnotationReferenceType   = "vnd.cog.reference.type"
	AnnotationReferenceDigest = "vnd.cog.reference.digest"
	ReferenceTypeWeights      = "weights"

	// Layer annotations of the February 2026 weights artifact.
	AnnotationLegacyWeightsName             = "vnd.cog.weights.name"
	AnnotationLegacyWeightsDest             = "vnd.cog.weights.dest"
	AnnotationLegacyWeightsSizeUncompressed = "vnd.cog.weights.size.uncompressed"
	AnnotationLegacyWeightsDigestOriginal   = "vnd.cog.weights.digest.original"

	// BuildKit's attestation manifests carry these.
	AnnotationDockerReferenceType   = "vnd.docker.reference.type"
	AnnotationDockerReferenceDigest = "vnd.docker.reference.digest"
	DockerReferenceTypeAttestation  = "attestation-manifest"
)

// Labels of the model image (spec/cog-image.md).
const (
	LabelPrefix        = "run.cog."
	LabelConfig        = "run.cog.config"
	LabelVersion       = "run.cog.version"
	LabelOpenAPISchema = "run.cog.openapi_schema"
	LabelPipFreeze     = "run.cog.pip_freeze"
	LabelHasInit       = "run.cog.has_init"
	LabelOCIRevision   = ocispec.AnnotationRevision
	LabelOCIVersion    = ocispec.AnnotationVersion
	// LabelFrontendVersion is this project's version. run.cog.version is
	// the version of the cog package installed in the image (Build sets the
	// requested one; the caller replaces it with what pip freeze reports,
	// see llb.InstalledCogVersion), which Cog's tools compare with the
	// installed package; so ours has a label of its own.
	LabelFrontendVersion = "org.cogfrontend.version"
)

// Paths inside the model image.
const (
	SrcDir            = "/src"
	CogDir            = "/src/.cog"
	OpenAPISchemaPath = "/src/.cog/openapi_schema.json"
	PipFreezePath     = "/src/.cog/pip_freeze.txt"
	WeightsJSONPath   = "/src/.cog/weights.json"
)

// File names in a Cog project.
const (
	ConfigFilename = "cog.yaml"
	LockFilename   = "weights.lock"
)

// EnvelopeFormat is the envelopeFormat of the default packing (spec §7),
// Cog's published value: what this tool writes into weights.lock and
// expects to find there. weights computes it from the packing parameters
// and tests that the two agree.
const EnvelopeFormat = "sha256:ce2d53f8dd962ace393450e0abadbe227304897be87753a503b61f9c8525726e"
