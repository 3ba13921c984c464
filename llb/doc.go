// Package llb turns a validated cog.yaml (config.Config), the weights.lock
// projection and a target platform into BuildKit LLB and an OCI image config:
// the model image Cog would build (see spec/cog-image.md).
//
// It is pure: no file system, no network. The only outside call is the
// optional image metadata resolver in Options, which reads the base image's
// config so that its environment (PATH, LANG, ...) carries into build steps
// and into the final image config. Everything the conversion needs from the
// build context that must be known at LLB time (the requirements file) is
// passed in as bytes by the caller.
//
// Facts that only exist after the build ran (the OpenAPI schema, which the
// cog runtime derives from the user's predictor, and `pip freeze`) are
// produced inside the build into files; Result.Facts tells the caller where
// to read them back from the solved result to turn them into labels.
//
// The same inputs always marshal to the same bytes: every map is walked in
// sorted order and nothing depends on time or on the host.
package llb
