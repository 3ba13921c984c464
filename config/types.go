package config

// This file is the contract other packages build against. Keep field names
// stable; add fields rather than rename them.

// Position points into a source file. Line and Column are 1-based; a zero
// Line means "unknown".
type Position struct {
	File   string
	Line   int
	Column int
}

// Config is a validated cog.yaml with defaults completed.
type Config struct {
	Build       *Build       // nil when cog.yaml has no build section
	Image       string       // image: (mutually exclusive with Model)
	Model       string       // model: bare repository, required when Weights exist
	Run         string       // run: (or the deprecated predict:) "file.py:Class"
	Train       string       // train: "file.py:Class"
	Concurrency *Concurrency // nil when absent
	Environment []EnvVar     // in file order; keys unique
	Weights     []Weight     // in file order

	// Source maps keys and list items to where they were written, keyed by
	// a dotted key path such as "build.run[2]" or "weights[0].target".
	Source SourceMap
}

// Build is the build: section.
type Build struct {
	PythonVersion      string // "3.X", patch dropped
	GPU                bool
	CUDA               string // "12.1"; resolved when GPU is on
	CuDNN              string // "8" / "9"; resolved when GPU is on
	PythonRequirements string // project-relative path, "" when unset
	PythonPackages     []string
	SystemPackages     []string
	Run                []RunCommand
	PreInstall         []string
	SDKVersion         string // "" means the pinned default
}

// RunCommand is one build.run entry.
type RunCommand struct {
	Command string
	Mounts  []Mount
}

// Mount is a build.run mount; only type "secret" exists today.
type Mount struct {
	Type   string
	ID     string
	Target string
}

// Concurrency is the concurrency: section.
type Concurrency struct {
	Max           int
	DefaultTarget int
}

// EnvVar is one environment: entry.
type EnvVar struct {
	Key   string
	Value string
}

// Weight is one managed weight (weights-v1 spec §2).
type Weight struct {
	Name    string
	Target  string // absolute, cleaned
	Sources []WeightSource
}

// WeightSource is one source of a weight. URI is as written in cog.yaml
// (bare path, file://, hf://, https://); NormalizedURI is the lockfile form.
type WeightSource struct {
	URI     string
	Include []string
	Exclude []string
}

// SourceMap maps dotted key paths to positions.
type SourceMap map[string]Position

// Warning is a non-fatal finding (deprecations, dropped patch versions).
type Warning struct {
	Pos     Position
	Path    string // key path, e.g. "build.python_version"
	Message string
}

// Lock is weights.lock version 1 (weights-v1 spec §10). Field order is the
// canonical key order of the file.
type Lock struct {
	Version        int          `json:"version"`
	EnvelopeFormat string       `json:"envelopeFormat"`
	Weights        []LockWeight `json:"weights"`
}

// LockWeight is one entry of weights.lock.
type LockWeight struct {
	Name           string       `json:"name"`
	Target         string       `json:"target"`
	Sources        []LockSource `json:"sources"`
	ImportedAt     string       `json:"importedAt"` // RFC 3339 UTC, kept verbatim
	Digest         string       `json:"digest"`     // weight manifest digest
	SetDigest      string       `json:"setDigest"`
	Size           int64        `json:"size"`
	SizeCompressed int64        `json:"sizeCompressed"`
	Files          []LockFile   `json:"files"`
	Layers         []LockLayer  `json:"layers"`
}

// LockSource is one source of a locked weight; URI is normalised.
type LockSource struct {
	URI         string   `json:"uri"`
	Fingerprint string   `json:"fingerprint"`
	Include     []string `json:"include"`
	Exclude     []string `json:"exclude"`
}

// LockFile is one file of a locked weight.
type LockFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Digest string `json:"digest"`
	Layer  string `json:"layer"`
}

// LockLayer is one layer of a locked weight.
type LockLayer struct {
	Digest           string `json:"digest"`
	MediaType        string `json:"mediaType"`
	Size             int64  `json:"size"`
	SizeUncompressed int64  `json:"sizeUncompressed"`
}
