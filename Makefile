# cog-frontend developer entry points. `make test` is what CI runs (.ci/run).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
E2E_TIMEOUT ?= 75m
# The e2e suite runs as two test processes side by side: the tests with
# daemons of their own (the Docker Engines, the oldest buildkitd, the
# registries lab with TLS and token auth) plus the weights pull tests and
# the reliability suites (disk full, concurrency, faults under load), and
# the rest; the split keeps the two about equally long. Most of their time is spent waiting on builds,
# downloads and models starting, so together they take little more than the
# longer one.
E2E_SIDE := ^(TestEngine|TestOldestBuildKit|TestRegistry|TestPull|TestReliability)
# Exports BUILDKIT_HOST, COG_DEV_REGISTRY, COG_DEV_BUILDER, COG_DEV_TOOLS, PATH.
DEV_ENV     := eval "$$(hack/dev-env env)"

.PHONY: all build test unit fuzz lint fmt e2e env-up env-down env-status env-clean demo bench bench-run install

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/cog-frontend ./cmd/cog-frontend

# Installs cog-frontend into $(PREFIX)/bin and as the Docker CLI plugin
# docker-cog (so `docker cog build|push|bundle|inspect` works).
PREFIX ?= /usr/local
install: build
	install -D -m 0755 bin/cog-frontend $(DESTDIR)$(PREFIX)/bin/cog-frontend
	$(DESTDIR)$(PREFIX)/bin/cog-frontend install-plugin

# Everything CI checks: the environment, then unit tests, lint and the e2e
# suite. All three run even if one fails, so one CI log shows every problem;
# the target fails if any did.
test: env-up
	@rc=0; \
	$(MAKE) --no-print-directory unit || rc=1; \
	$(MAKE) --no-print-directory lint || rc=1; \
	$(MAKE) --no-print-directory e2e || rc=1; \
	if [[ $$rc != 0 ]]; then echo "make test: FAILED (see unit/lint/e2e output above)"; fi; \
	exit $$rc

# Unit tests: no daemon, seconds; then a short run of every fuzz target.
unit:
	$(GO) test -count=1 ./...
	@$(MAKE) --no-print-directory fuzz

# Each fuzz target for FUZZTIME, one after the other (the seed corpora in
# testdata/fuzz/ also run as plain tests in `go test ./...`). A crasher
# lands in the package's testdata/fuzz/FuzzX/: fix the bug, commit it.
FUZZTIME ?= 10s
FUZZ_TARGETS := \
	./config:FuzzParse ./config:FuzzParseLock ./config:FuzzNormalizeSourceURI \
	./schema:FuzzGenerate \
	./weights/pack:FuzzValidatePath \
	./weights/pull:FuzzResolve ./weights/pull:FuzzParseWeightManifest \
	./weights/materialize:FuzzExtract
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; echo "fuzz: $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

lint:
	@gofiles="$$(git ls-files -co --exclude-standard '*.go')"; \
	files="$$( [[ -z "$$gofiles" ]] || gofmt -l $$gofiles)"; \
	if [[ -n "$$files" ]]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi; \
	echo "gofmt: ok"
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) -tags e2e ./e2e/...

fmt:
	gofmt -w $$(git ls-files -co --exclude-standard '*.go')

# End-to-end suite against the dev environment (must be up: make env-up).
# Each line of output is prefixed with its group; both groups always finish.
e2e:
	@$(DEV_ENV); \
	group() { local name=$$1; shift; $(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) "$$@" ./e2e/... 2>&1 | sed -u "s/^/[$$name] /"; }; \
	group side -run '$(E2E_SIDE)' & side=$$!; \
	rc=0; group main -skip '$(E2E_SIDE)' || rc=1; \
	wait $$side || rc=1; \
	if [[ $$rc != 0 ]]; then echo "e2e: FAILED (grep the output for '--- FAIL')"; fi; exit $$rc

env-up:
	hack/dev-env up

env-down:
	hack/dev-env down

env-status:
	hack/dev-env status

env-clean:
	hack/dev-env clean

demo:
	hack/demo.sh

# Performance targets (issue 13): every main job measured side by side with
# the tool a user would pick instead, in one run on the same machine and
# data, rendered into BENCHMARKS.md (hack/benchreport) from the records the
# benchmarks write to $(BENCH_OUT). Default: 1 GiB weight sets, 3 runs, the
# cold demo on a fresh clone with the daemons cached (8 minutes measured on
# 2 cores). FULL=1: 4 GiB, and the cold demo on an empty environment state
# (every daemon and base image built again: 8 more minutes with Go's caches
# warm, about 30 on a fresh machine). A missed target is a MISS row, not
# a failure; a benchmark that breaks fails the target after the report.
BENCH_BYTES ?= $(if $(FULL),4294967296,1073741824)
BENCH_RUNS  ?= 3
# The example builds are the longest rows (a cold build installs Python
# packages): two runs by default keep make bench near 30 minutes.
BENCH_BUILD_RUNS ?= $(if $(FULL),$(BENCH_RUNS),2)
BENCH_OUT   ?= out/bench
# BENCH_STEPS picks some of the steps (e.g. BENCH_STEPS="import push");
# bench-run is bench without bringing the environment up.
BENCH_STEPS ?= micro import push pull pull-quarter build demo
BENCH_MODE  := $(if $(FULL),FULL=1,default) (BENCH_BYTES=$(BENCH_BYTES), BENCH_RUNS=$(BENCH_RUNS), BENCH_BUILD_RUNS=$(BENCH_BUILD_RUNS); cold demo: $(if $(FULL),empty environment state,daemons and base images cached))
bench: env-up
	@$(MAKE) --no-print-directory bench-run

bench-run:
	@rm -rf $(BENCH_OUT); mkdir -p $(BENCH_OUT); \
	$(DEV_ENV); \
	export COG_BENCH_OUT="$(abspath $(BENCH_OUT))" COG_BENCH_BYTES=$(BENCH_BYTES) COG_BENCH_RUNS=$(BENCH_RUNS); \
	rc=0; failed=""; \
	step() { local name=$$1 t=$$SECONDS; shift; [[ " $(BENCH_STEPS) " == *" $$name "* ]] || return 0; echo "==> make bench: $$name"; \
	  if "$$@"; then echo "==> make bench: $$name took $$((SECONDS - t))s"; else rc=1; failed="$$failed $$name"; fi; }; \
	step micro $(GO) test -run '^$$' -bench . -benchmem -timeout 10m ./config ./llb; \
	step import $(GO) test -run '^$$' -bench '^BenchmarkImport$$' -benchtime 1x -timeout 30m ./weights; \
	step push $(GO) test -tags e2e -run '^$$' -bench '^BenchmarkPush$$' -benchtime 1x -timeout 60m ./e2e; \
	step pull env COG_BENCH_PULL_BYTES=$(BENCH_BYTES) $(GO) test -tags e2e -run '^$$' -bench '^BenchmarkWeightsPull$$' -benchtime 1x -timeout 60m ./e2e; \
	step pull-quarter env COG_BENCH_PULL_BYTES=$$(($(BENCH_BYTES) / 4)) COG_BENCH_RUNS=1 COG_BENCH_SUFFIX=-quarter \
	  $(GO) test -tags e2e -run '^$$' -bench '^BenchmarkWeightsPull$$' -benchtime 1x -timeout 30m ./e2e; \
	step build env COG_BENCH_RUNS=$(BENCH_BUILD_RUNS) $(GO) test -tags e2e -run '^$$' -bench '^BenchmarkFrontendVsDockerfile$$' -benchtime 1x -timeout 90m ./e2e; \
	step demo env FULL=$(FULL) hack/bench-demo.sh; \
	files=(); for s in import push pull pull-quarter build demo; do [[ ! -f $(BENCH_OUT)/$$s.jsonl ]] || files+=($(BENCH_OUT)/$$s.jsonl); done; \
	$(GO) run ./hack/benchreport -mode "$(BENCH_MODE)" -data-dir "$${COG_BENCH_DIR:-$${TMPDIR:-/tmp}}" -o BENCHMARKS.md "$${files[@]}" || rc=1; \
	if [[ -n $$failed ]]; then echo "make bench: FAILED:$$failed (BENCHMARKS.md has the rest)"; fi; exit $$rc
