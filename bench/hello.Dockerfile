# The hand-written equivalent of what cog-frontend builds from
# examples/hello/cog.yaml (no requirements, no weights), for the benchmark in
# e2e/bench_test.go: the same base, the same steps in the same order, the
# same cache mounts, the same facts step; bench/cpu-weights.Dockerfile
# without the requirements step. The benchmark copies
# bench/cog_facts.py (the in-build schema generator the frontend used
# before it computed the schema statically) next to it as a named context
# "cogfacts".
FROM python:3.11-slim
ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 \
    LD_LIBRARY_PATH=:/usr/lib/x86_64-linux-gnu:/usr/local/nvidia/lib64:/usr/local/nvidia/bin \
    NVIDIA_DRIVER_CAPABILITIES=all
RUN --mount=type=cache,target=/var/cache/apt,id=bench-apt-cache,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,id=bench-apt-lib,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
 && echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache \
 && apt-get update -qq && apt-get install -qq -y --no-install-recommends tini \
 && ln -sf /usr/bin/tini /sbin/tini
COPY --from=ghcr.io/astral-sh/uv:0.9.26 /uv /uvx /usr/local/bin/
ENV UV_SYSTEM_PYTHON=true
ARG COG_SDK_VERSION
RUN --mount=type=cache,target=/root/.cache/uv,id=bench-uv-cache \
    UV_LINK_MODE=copy uv pip install "cog==${COG_SDK_VERSION}"
WORKDIR /src
ENV COG_PREDICT_TYPE_STUB=predict.py:Runner
EXPOSE 5000
COPY . /src/
RUN --network=none --mount=type=bind,from=cogfacts,target=/opt/cog-frontend \
    --mount=type=tmpfs,target=/tmp \
    mkdir -p /src/.cog && UV_NO_CACHE=1 PYTHONDONTWRITEBYTECODE=1 uv pip freeze > /src/.cog/pip_freeze.txt \
 && PYTHONDONTWRITEBYTECODE=1 python /opt/cog-frontend/cog_facts.py predict predict.py:Runner /src/.cog/openapi_schema.json
ENTRYPOINT ["/sbin/tini", "--"]
CMD ["python", "-m", "cog.server.http"]
