// Package frontend is the BuildKit gateway frontend for Cog models: a
// gateway BuildFunc (Build) that reads cog.yaml and weights.lock from the
// build inputs, turns them into LLB through package llb, solves one image per
// target platform, lifts build-time facts (OpenAPI schema, pip freeze) into
// image labels and returns the result with its image configs and the weights
// lock projection in the result metadata.
//
// It owns the plumbing between BuildKit and the pure conversion: frontend
// options, the dockerfile/context inputs and named contexts (through
// frontend/dockerui), platforms, cache imports, --call subrequests, warnings
// and errors that point into cog.yaml. It holds no conversion logic itself.
//
// Inputs. cog.yaml is the "dockerfile" input, so `docker buildx build -f
// cog.yaml .` works; with no filename (or the buildx default "Dockerfile")
// the frontend reads cog.yaml. weights.lock is read from the same input, next
// to cog.yaml (path.Dir(filename)/weights.lock), because the CLI writes it
// there and both files describe the same project; for git/HTTP contexts that
// is the context itself.
package frontend
