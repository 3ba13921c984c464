#!/usr/bin/env bash
# hack/bench-demo.sh (part of make bench): times `make demo` on a fresh clone,
# cold and then warm, in a development environment of its own, and writes
# the measurements as benchrec records to $COG_BENCH_OUT/demo.jsonl, compared
# with the times the README states.
#
#   default:  the clone's environment reuses the built daemons and base
#             images of the usual environment (hard links of its bin/ and
#             images/), so "cold" is: new buildkitd with an empty build
#             cache, new registry seeded again, new Docker Engines; the
#             model build installs its Python packages.
#   FULL=1:   an empty environment state: hack/dev-env up builds every
#             daemon and base image first (the README's cold, except for
#             the Go and Debian downloads a fresh machine also makes).
#
# The second environment runs beside the usual one on its own registry port,
# builder name, bridges and subnets (hack/dev-env's COG_DEV_* overrides) and
# is removed again (hack/dev-env clean) at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=${COG_BENCH_OUT:?COG_BENCH_OUT must name the directory for the records}
full=${FULL:-}
runs=${COG_BENCH_RUNS:-1}
main_state="${XDG_CACHE_HOME:-$HOME/.cache}/cog-frontend-dev"

# The README's statement: "**about N minutes cold**" and "**N seconds warm**".
readme_cold_min=$(sed -n 's/.*\*\*about \([0-9][0-9]*\) minutes cold\*\*.*/\1/p' README.md | head -1)
readme_warm_s=$(sed -n 's/.*\*\*\([0-9][0-9]*\) seconds warm\*\*.*/\1/p' README.md | head -1)
if [[ -z $readme_cold_min || -z $readme_warm_s ]]; then
  echo "hack/bench-demo.sh: README.md no longer states the demo's times as '**about N minutes cold**' and '**N seconds warm**'; update this script's sed patterns to the new wording" >&2
  exit 1
fi

work=$(mktemp -d "${COG_BENCH_DIR:-${TMPDIR:-/tmp}}/cog-bench-demo.XXXXXX")
export COG_DEV_STATE=$work/state
export COG_DEV_REGISTRY_ADDR=${COG_BENCH_DEMO_REGISTRY:-127.0.0.1:5091}
export COG_DEV_BUILDER_NAME=cog-bench-demo
export COG_DEV_BRIDGE_PREFIX=cogbd
export COG_DEV_SUBNET_BASE=10.233
# The clone's make demo must not see the usual environment's variables.
unset BUILDKIT_HOST COG_DEV_REGISTRY COG_DEV_BUILDER COG_DEV_TOOLS
cleanup() {
  (cd "$work/clone" 2>/dev/null && hack/dev-env clean >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$COG_DEV_STATE"
if [[ -z $full ]]; then
  cold_row="make demo on a fresh clone, cold (daemons cached)"
  mode="fresh clone; daemons and base images cached (hard links of $main_state/bin and images), build cache, registry and engines new"
  for d in bin images; do
    [[ -d $main_state/$d ]] || { echo "hack/bench-demo.sh: $main_state/$d missing: bring the usual environment up first (make env-up), or run with FULL=1" >&2; exit 1; }
    cp -al "$main_state/$d" "$COG_DEV_STATE/$d" 2>/dev/null || cp -a "$main_state/$d" "$COG_DEV_STATE/$d"
  done
else
  cold_row="make demo on a fresh clone, cold (empty environment state)"
  mode="fresh clone, empty environment state: every daemon and base image built again (Go module/build caches and Debian packages as this machine has them; a machine without them adds their downloads and compiles)"
fi

git clone --quiet "$root" "$work/clone"
rev=$(git -C "$work/clone" rev-parse --short HEAD)

records=()
rec() { records+=("$1"); }
json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

demo() { # demo LOG: runs make demo in the clone, prints the seconds it took
  local start
  start=$(date +%s%N)
  if ! (cd "$work/clone" && make demo >"$1" 2>&1); then
    echo "hack/bench-demo.sh: make demo failed in the fresh clone ($work/clone); its output:" >&2
    tail -40 "$1" >&2
    exit 1
  fi
  python3 -c "print(round(($(date +%s%N) - $start) / 1e9, 2))"
}

cold=$(demo "$work/cold.log") || exit 1
echo "make demo, cold: ${cold}s" >&2
rec "{\"kind\":\"ratio\",\"row\":$(json_str "$cold_row"),\"versus\":$(json_str "the README's cold time (about $readme_cold_min minutes)"),\"metric\":\"ratio\",\"value\":$(python3 -c "print($cold/($readme_cold_min*60))"),\"unit\":\"x\",\"target\":1,\"run\":0}"
rec "{\"kind\":\"value\",\"row\":$(json_str "$cold_row"),\"subject\":\"make demo\",\"metric\":\"time\",\"value\":$cold,\"unit\":\"s\",\"run\":0}"
for ((i = 0; i < runs; i++)); do
  warm=$(demo "$work/warm.log") || exit 1
  echo "make demo, warm: ${warm}s" >&2
  rec "{\"kind\":\"ratio\",\"row\":\"make demo, warm\",\"versus\":$(json_str "the README's warm time ($readme_warm_s seconds)"),\"metric\":\"ratio\",\"value\":$(python3 -c "print($warm/$readme_warm_s)"),\"unit\":\"x\",\"target\":1,\"run\":$i}"
  rec "{\"kind\":\"value\",\"row\":\"make demo, warm\",\"subject\":\"make demo\",\"metric\":\"time\",\"value\":$warm,\"unit\":\"s\",\"run\":$i}"
done
# Where the cold time went: the demo prints "==> [XmYYs] step" lines.
steps=$(grep -o '^==> \[[0-9]*m[0-9]*s\] [^(]*' "$work/cold.log" | sed 's/^==> //; s/ *$//' | cut -c1-70 | paste -sd ';' - || true)
rec "{\"kind\":\"note\",\"row\":$(json_str "$cold_row"),\"text\":$(json_str "steps started at (elapsed): $steps; the demo took ${cold}s.")}"
rec "{\"kind\":\"setup\",\"text\":$(json_str "make demo: a fresh git clone of $rev; cold: $mode; warm: make demo again in the same clone, $runs time(s)")}"
mkdir -p "$out"
printf '%s\n' "${records[@]}" >"$out/demo.jsonl.tmp"
mv "$out/demo.jsonl.tmp" "$out/demo.jsonl"
