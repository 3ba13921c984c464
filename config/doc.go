// Package config owns the project's two input files: cog.yaml (schema,
// parsing with source positions, validation, defaults) and weights.lock
// (its types, strict parsing and canonical serialisation, and drift between
// the two). It is pure: it turns bytes into values and values into bytes and
// never touches the file system.
//
// Entry points:
//
//   - Parse reads cog.yaml into a validated Config plus warnings. Every
//     problem is an *Error ("cog.yaml:LINE:COL: key.path: what is wrong
//     (got value); what to do"), all of them joined with errors.Join; use
//     Errors or errors.As to get at positions. Config.Source maps dotted key
//     paths ("build.run[2]", "weights[0].source[1].include[0]") to where
//     they were written, for pointing build failures back at cog.yaml.
//   - ResolveCUDA completes build.cuda/cudnn for GPU builds from the
//     requirements text (Parse cannot read files); CUDABaseImage names the
//     nvidia/cuda base image.
//   - Config.LabelJSON is the run.cog.config label value.
//   - ParseLock / MarshalLock read and write weights.lock version 1; Drift
//     compares it with cog.yaml; NormalizeSourceURI gives the lockfile form
//     of a weight source; CheckPattern validates include/exclude patterns.
//
// Both files are walked as yaml.v3 node trees (weights.lock's JSON is turned
// into one by jsonnode.go) so that one walker gives cog.yaml and the lock the
// same error format and positions.
package config
