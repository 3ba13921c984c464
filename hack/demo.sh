#!/usr/bin/env bash
# hack/demo.sh: the project's main job end to end on its defaults (make demo).
# First version: builds cog-frontend and brings the development environment up,
# then shows it. It grows with the frontend and exporter (build examples/ into
# an OCI layout and print what was built).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> building bin/cog-frontend"
make --no-print-directory build

echo "==> bringing up the development environment (hack/dev-env up)"
hack/dev-env up

echo "==> environment"
hack/dev-env env
bin/cog-frontend --version
