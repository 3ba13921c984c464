# The cog-frontend image: the BuildKit gateway frontend for cog.yaml (use it
# with `# syntax=<this image>` as cog.yaml's first line, or BUILDKIT_SYNTAX),
# and the release binaries. Build with `docker buildx bake frontend` /
# `docker buildx bake binaries`.
#
# No `# syntax=` line: the builtin Dockerfile frontend already supports
# cache mounts, and a syntax image would have to be pulled from Docker Hub.

# GO_VERSION follows go.mod's go directive; the dev environment's registry
# mirror serves golang:<that version>.
ARG GO_VERSION=1.26.8

# The Go stage always runs on the build platform and cross-compiles, so a
# multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Modules first, keyed on go.mod/go.sum only, so a source change does not
# download them again; the cache mount keeps them across builds.
RUN --mount=type=bind,source=go.mod,target=go.mod \
    --mount=type=bind,source=go.sum,target=go.sum \
    --mount=type=cache,target=/go/pkg/mod,id=cog-frontend-gomod \
    go mod download

FROM build AS binary
ARG TARGETOS TARGETARCH TARGETVARIANT
ARG VERSION=dev
RUN --mount=type=bind,target=. \
    --mount=type=cache,target=/go/pkg/mod,id=cog-frontend-gomod \
    --mount=type=cache,target=/root/.cache/go-build,id=cog-frontend-gobuild \
    GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=${TARGETVARIANT#v} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/cog-frontend ./cmd/cog-frontend

# Release binaries: `docker buildx bake binaries` writes them to ./bin.
FROM scratch AS binaries
COPY --from=binary /out/cog-frontend /

# The frontend image. BuildKit runs its entrypoint, which names the gateway
# mode explicitly: the environment BuildKit sets differs between BuildKit
# distributions (Docker Engine's embedded one among them), so the binary
# never guesses its mode from it.
FROM scratch AS frontend
# The frontend only talks to BuildKit over stdio; it needs no network.
LABEL moby.buildkit.frontend.network.none="true"
# Capabilities the frontend relies on: frontend inputs (so a forwarding
# Dockerfile frontend can hand over the build context), subrequests
# (--call outline|targets) and named contexts (--build-context).
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
COPY --from=binary /out/cog-frontend /cog-frontend
ENTRYPOINT ["/cog-frontend", "gateway"]
