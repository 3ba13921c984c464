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
t0=$SECONDS
elapsed() { printf '%dm%02ds' $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)); }
step() { printf '\n==> [%s] %s\n' "$(elapsed)" "$*"; }

# heartbeat runs a long command and, while it runs, says every 30 s that it
# still does, and how long the demo has taken so far: the first
# hack/dev-env up builds for many minutes with little to print.
heartbeat() {
  local what=$1; shift
  "$@" &
  local pid=$!
  ( while sleep 30; do kill -0 "$pid" 2>/dev/null || exit 0; printf '    ... [%s] still %s\n' "$(elapsed)" "$what" >&2; done ) &
  local beat=$!
  local rc=0
  wait "$pid" || rc=$?
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  return "$rc"
}

step "building bin/cog-frontend"
make --no-print-directory build

if hack/dev-env status >/dev/null 2>&1; then
  step "the development environment is up (hack/dev-env status)"
else
  step "bringing up the development environment (hack/dev-env up; the first time it builds buildkitd, buildx, the registry, Docker Engines and the Debian base images: about 20 minutes on 2 cores)"
  heartbeat "bringing up the development environment" hack/dev-env up
fi
eval "$(hack/dev-env env)"

step "cog-frontend weights import ($example)"
(cd "$example" && ../../bin/cog-frontend weights import)

step "cog-frontend build $example -> $out (OCI layout; the first build installs Python packages: a few minutes)"
bin/cog-frontend build "$example" --progress "${PROGRESS:-plain}" -t cog-demo:demo \
  --output "type=oci,dest=$out"

step "cog-frontend inspect oci-layout://$out"
bin/cog-frontend inspect "oci-layout://$out"

step "running the model image under runc with its weight mounted"
hack/run-model "$out" cog-image.demo '{"x1": 1, "x2": 1, "x3": 1}' \
  "$example/weights/linear:/src/weights/linear"

printf '\nThe demo took %s. The bundle is in %s (an OCI image layout): push it with\n' "$(elapsed)" "$out"
printf '  bin/cog-frontend push --help\n'
