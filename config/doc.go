// Package config owns the project's two input files: cog.yaml (schema,
// parsing with source positions, validation, defaults) and weights.lock
// (its types, strict parsing and canonical serialisation, and drift between
// the two). It is pure: it turns bytes into values and values into bytes and
// never touches the file system.
package config
