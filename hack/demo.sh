#!/usr/bin/env bash
# hack/demo.sh (make demo): the project's main job end to end, on defaults
# that need no external service:
#   1. build bin/cog-frontend and bring up the local environment
#      (buildkitd, registry with base images, buildx builder);
#   2. import the example's managed weights (weights.lock stays unchanged);
#   3. build the CPU example through the frontend into one OCI image index
#      (model image + weight manifest) in an OCI layout under out/demo/;
#   4. print what was built, then run the image under runc with its weight
#      mounted read-only and ask it for a prediction.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

example=examples/cpu-weights
out=out/demo/cpu-weights
step() { printf '\n==> %s\n' "$*"; }

step "building bin/cog-frontend"
make --no-print-directory build

step "bringing up the development environment (hack/dev-env up)"
hack/dev-env up
eval "$(hack/dev-env env)"

step "cog-frontend weights import ($example)"
(cd "$example" && ../../bin/cog-frontend weights import)

step "cog-frontend build $example -> $out (OCI layout)"
bin/cog-frontend build "$example" --progress "${PROGRESS:-plain}" -t cog-demo:demo \
  --output "type=oci,dest=$out"

step "cog-frontend inspect oci-layout://$out"
bin/cog-frontend inspect "oci-layout://$out"

step "running the model image under runc with its weight mounted"
hack/run-model "$out" cog-image.demo '{"x1": 1, "x2": 1, "x3": 1}' \
  "$example/weights/linear:/src/weights/linear"

printf '\nThe bundle is in %s (an OCI image layout): push it with\n' "$out"
printf '  bin/cog-frontend push --help\n'
