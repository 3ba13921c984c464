// Package llb turns a validated cog.yaml (config.Config), the weights.lock
// projection and a target platform into BuildKit LLB and an OCI image config:
// the model image Cog would build (docs/frontend.md, "The image"), one platform per
// call.
//
// It is pure: no file system, no network. The only outside calls are the
// optional hooks in Options: the image metadata resolver, which reads the
// base image's config so that its environment (PATH, LANG, ...) carries
// into build steps and into the final image config, and NamedContext, which
// lets `--build-context python:3.11-slim=...` replace a base image. What the
// conversion needs from the build context at LLB time (the requirements
// file) is passed in as bytes by the caller.
//
// What the caller does around Build:
//
//   - main context: apply .dockerignore and add ContextExcludes(cfg, format)
//     to the local source's exclude patterns (weight directories are never
//     sent to BuildKit in bundle format);
//   - pass cog.yaml's name and bytes (source map: failing steps point at
//     their cog.yaml line), the requirements file's bytes, WeightRefs(cfg,
//     lock), the format and the OpenAPI schema (package schema computes it
//     from the source before the build);
//   - after solving Result.State, read every file named in Result.Facts from
//     the result and set its content, verbatim, as the label of that name
//     (the file is written without a trailing newline for this);
//     then set run.cog.version to InstalledCogVersion of the pip freeze, so
//     the label names the cog the image really has;
//   - forward Result.Warnings (e.g. cog lines dropped from requirements).
//
// The one fact that exists only after the build is `uv pip freeze`, the
// installed packages. It lands in /src/.cog with openapi_schema.json and
// weights.json in one small last layer.
//
// The same inputs always marshal to the same bytes: slices keep cog.yaml
// order, every map is walked sorted, generated files carry a fixed
// timestamp, and nothing depends on time or on the host.
package llb
