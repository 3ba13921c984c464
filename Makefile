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
# registries lab with TLS and token auth) plus the weights pull tests, and
# the rest; the split keeps the two about equally long. Most of their time is spent waiting on builds,
# downloads and models starting, so together they take little more than the
# longer one.
E2E_SIDE := ^(TestEngine|TestOldestBuildKit|TestRegistry|TestPull)
# Exports BUILDKIT_HOST, COG_DEV_REGISTRY, COG_DEV_BUILDER, COG_DEV_TOOLS, PATH.
DEV_ENV     := eval "$$(hack/dev-env env)"

.PHONY: all build test unit fuzz lint fmt e2e env-up env-down env-status env-clean demo bench install

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

# Performance targets, each reported as a ratio against a peer tool measured
# in the same run: weights import vs sha256sum (weights/), the frontend vs the
# stock Dockerfile frontend, and the first push vs crane and oras (e2e/).
bench: env-up
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./config ./llb ./weights
	$(DEV_ENV); $(GO) test -tags e2e -run '^$$' -bench 'FrontendVsDockerfile' -benchtime 3x -timeout 50m ./e2e
	$(DEV_ENV); $(GO) test -tags e2e -run '^$$' -bench 'ExporterFirstPush' -benchtime 2x -timeout 50m ./e2e
	# weights pull (issue 9): cold vs crane/oras + extract, warm, v2 wire bytes; COG_BENCH_PULL_BYTES=4294967296 for 4 GiB
	$(DEV_ENV); $(GO) test -tags e2e -run '^$$' -bench 'WeightsPull' -benchtime 1x -timeout 30m ./e2e
