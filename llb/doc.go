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
//     lock) and the format;
//   - after solving Result.State, read every file named in Result.Facts from
//     the result and set its content, verbatim, as the label of that name
//     (both files are written without a trailing newline for this);
//     then set run.cog.version to InstalledCogVersion of the pip freeze, so
//     the label names the cog the image really has;
//   - forward Result.Warnings (e.g. cog lines dropped from requirements).
//
// Facts exist only after the build ran: the OpenAPI schema is produced
// inside the build by the installed cog runtime from the user's predictor
// (python/cog_facts.py: the runtime's own `python -m
// cog.command.openapi_schema` where that release has it, else its
// introspection API wrapped in Cog's fixed OpenAPI envelope), and `uv pip
// freeze` records the installed packages. Both land in /src/.cog with
// weights.json in one small last layer.
//
// The same inputs always marshal to the same bytes: slices keep cog.yaml
// order, every map is walked sorted, generated files carry a fixed
// timestamp, and nothing depends on time or on the host.
package llb
