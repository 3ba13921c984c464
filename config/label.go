package config

import (
	"bytes"
	"encoding/json"
)

// The run.cog.config label holds the effective config as compact JSON with
// Cog's key names and Cog's omit-empty behaviour, so Cog-aware tools read it
// as they read an image Cog built. These types exist only to fix that shape
// (field order = key order); Config itself stays free of JSON concerns.
type labelConfig struct {
	Build       *labelBuild       `json:"build"`
	Image       string            `json:"image,omitempty"`
	Model       string            `json:"model,omitempty"`
	Predict     string            `json:"predict,omitempty"`
	Train       string            `json:"train,omitempty"`
	Concurrency *labelConcurrency `json:"concurrency,omitempty"`
	Environment []string          `json:"environment,omitempty"`
	Weights     []labelWeight     `json:"weights,omitempty"`
}

type labelBuild struct {
	GPU                bool       `json:"gpu,omitempty"`
	PythonVersion      string     `json:"python_version,omitempty"`
	PythonRequirements string     `json:"python_requirements,omitempty"`
	PythonPackages     []string   `json:"python_packages,omitempty"`
	Run                []labelRun `json:"run,omitempty"`
	SystemPackages     []string   `json:"system_packages,omitempty"`
	PreInstall         []string   `json:"pre_install,omitempty"`
	CUDA               string     `json:"cuda,omitempty"`
	CuDNN              string     `json:"cudnn,omitempty"`
	SDKVersion         string     `json:"sdk_version,omitempty"`
}

type labelRun struct {
	Command string       `json:"command,omitempty"`
	Mounts  []labelMount `json:"mounts,omitempty"`
}

type labelMount struct {
	Type   string `json:"type,omitempty"`
	ID     string `json:"id,omitempty"`
	Target string `json:"target,omitempty"`
}

type labelConcurrency struct {
	Max           int `json:"max,omitempty"`
	DefaultTarget int `json:"default_target,omitempty"`
}

// labelWeight mirrors the cog.yaml form: source is one object when there
// is one source, a list otherwise.
type labelWeight struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Source any    `json:"source"`
}

type labelSource struct {
	URI     string   `json:"uri"`
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// LabelJSON returns the value of the run.cog.config label: compact JSON of
// the effective config (call ResolveCUDA first for GPU builds so cuda and
// cudnn are filled in). Go's JSON escaping applies, as in Cog. The build key
// is always present (an empty object without a build section), as Cog
// always writes it.
func (c *Config) LabelJSON() ([]byte, error) {
	lc := labelConfig{
		Build:   labelBuildOf(c.Build),
		Image:   c.Image,
		Model:   c.Model,
		Predict: c.Run,
		Train:   c.Train,
	}
	if c.Concurrency != nil {
		lc.Concurrency = &labelConcurrency{Max: c.Concurrency.Max, DefaultTarget: c.Concurrency.DefaultTarget}
	}
	for _, e := range c.Environment {
		lc.Environment = append(lc.Environment, e.Key+"="+e.Value)
	}
	for _, w := range c.Weights {
		lc.Weights = append(lc.Weights, labelWeightOf(w))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(lc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func labelBuildOf(b *Build) *labelBuild {
	if b == nil {
		return &labelBuild{}
	}
	lb := &labelBuild{
		GPU:                b.GPU,
		PythonVersion:      b.PythonVersion,
		PythonRequirements: b.PythonRequirements,
		PythonPackages:     b.PythonPackages,
		SystemPackages:     b.SystemPackages,
		PreInstall:         b.PreInstall,
		CUDA:               b.CUDA,
		CuDNN:              b.CuDNN,
		SDKVersion:         b.SDKVersion,
	}
	for _, r := range b.Run {
		lr := labelRun{Command: r.Command}
		for _, m := range r.Mounts {
			lr.Mounts = append(lr.Mounts, labelMount(m))
		}
		lb.Run = append(lb.Run, lr)
	}
	return lb
}

func labelWeightOf(w Weight) labelWeight {
	srcs := make([]labelSource, len(w.Sources))
	for i, s := range w.Sources {
		srcs[i] = labelSource(s)
	}
	lw := labelWeight{Name: w.Name, Target: w.Target, Source: srcs}
	if len(srcs) == 1 {
		lw.Source = srcs[0]
	}
	return lw
}
