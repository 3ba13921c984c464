# Bake targets: the frontend image, the release binaries, and the examples
# built THROUGH the frontend. The examples take the frontend from the
# `frontend` target via a `target:` named context and BUILDKIT_SYNTAX naming
# that context (the way project-dalec/dalec bakes its examples), so bake
# builds the frontend first and no frontend image has to be pushed.
#
#   docker buildx bake frontend                 # the frontend image
#   docker buildx bake binaries                 # ./bin/<os>_<arch>/cog-frontend
#   docker buildx bake examples                 # every example model image
#   docker buildx bake example-hello --set example-hello.output=type=oci,dest=hello.tar

variable "VERSION" {
  default = "dev"
}

# Where `frontend` is tagged; push with --push or --set frontend.output=...
variable "FRONTEND_IMAGE" {
  default = "cog-frontend:${VERSION}"
}

# Platforms of the release binaries (cross-compiled, no emulation needed).
variable "BINARY_PLATFORMS" {
  default = "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64"
}

group "default" {
  targets = ["frontend"]
}

target "_common" {
  context    = "."
  dockerfile = "Dockerfile"
  args = {
    VERSION = VERSION
  }
}

target "frontend" {
  inherits = ["_common"]
  target   = "frontend"
  tags     = [FRONTEND_IMAGE]
}

target "binaries" {
  inherits  = ["_common"]
  target    = "binaries"
  platforms = split(",", BINARY_PLATFORMS)
  output    = ["type=local,dest=bin"]
}

# The example model images. Each example's cog.yaml is the build file; the
# Dockerfile frontend reads BUILDKIT_SYNTAX, finds the named context
# "cog-frontend" (= the frontend target's image) and hands the build to it.
group "examples" {
  targets = ["example-hello", "example-cpu-weights"]
}

target "_example" {
  dockerfile = "cog.yaml"
  contexts = {
    "cog-frontend" = "target:frontend"
  }
  args = {
    BUILDKIT_SYNTAX = "cog-frontend"
  }
}

target "example-hello" {
  inherits = ["_example"]
  context  = "examples/hello"
  tags     = ["cog-example-hello:${VERSION}"]
}

target "example-cpu-weights" {
  inherits = ["_example"]
  context  = "examples/cpu-weights"
  tags     = ["cog-example-cpu-weights:${VERSION}"]
}
