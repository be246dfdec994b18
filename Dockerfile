# syntax=docker/dockerfile:1
# Rolwijzer's gRPC server. No container engine runs on the development machines, so no image is built there: CI
# checks this file with hadolint, and tests/test_wheel.py runs what it installs (the wheel, in a clean venv, with
# the rules given by path, from a folder outside the checkout).
#
# Build: docker build -t rolwijzer .   (BuildKit: the wheels reach the final stage through a bind mount)

# The same Debian (bookworm) in both stages, so the wheel compiled in the first runs in the second. Pinned by tag;
# pin by digest too where your registry policy asks for it.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- Stage 1: wheels for the project and every dependency --------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# durable-rules 2.0.28 ships no wheel for Python 3.11: its C engine is compiled here, so the final image needs no
# compiler. Debian's versions are not pinned: the archive drops old ones with each security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml ./
COPY protos ./protos
COPY service ./service
# The protobuf modules are generated, not committed (service/rolwijzer/v1 is git-ignored): generate them as
# `make proto` does (without the type stubs, which only mypy reads), then build the project's wheel and the wheels
# of its dependencies. grpcio-tools is pinned to the version the dev environment generates with.
RUN pip install grpcio-tools==1.85.1 \
    && mkdir -p service/rolwijzer/v1 \
    && python -m grpc_tools.protoc -I protos --python_out=service --grpc_python_out=service protos/rolwijzer/v1/*.proto \
    && echo '"""Generated from protos/rolwijzer/v1 at image build; do not edit."""' > service/rolwijzer/v1/__init__.py \
    && pip wheel --wheel-dir /wheels .

# ---- Stage 2: the wheel installed, the rules, nothing else ----------------------------------------------------------
FROM ${PYTHON_IMAGE}
# No .pyc written at run time (the root filesystem is read-only; pip compiled them at install), logs unbuffered
# so each JSON line leaves at once, no pip cache or version check in the image.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Only from the wheels of stage 1 (--no-index): what runs is what was built and tested, nothing fetched later.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels rolwijzer \
    && groupadd --system --gid 10001 rolwijzer \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin rolwijzer \
    && mkdir -p /var/lib/rolwijzer \
    && chown 10001:10001 /var/lib/rolwijzer
# The rules baked in; a volume mounted on /app/rules (a Kubernetes ConfigMap, `..data` swaps included) replaces
# them. The installed wheel cannot find rules/ beside its source tree, so the path is given explicitly.
COPY --chown=root:root rules /app/rules
# Listen on every interface of the container. Plaintext is refused there: give --tls-cert/--tls-key (or
# --plaintext behind a TLS-terminating proxy). The decision log, when on, needs a writable mount such as
# /var/lib/rolwijzer: it is the only thing the server writes.
ENV ROLWIJZER_RULES=/app/rules \
    ROLWIJZER_ADDRESS=0.0.0.0:50051 \
    ROLWIJZER_HTTP_ADDRESS=0.0.0.0:8080
# A numeric user, so Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /var/lib/rolwijzer
# 50051: gRPC (decisions, health, reflection). 8080: Connect JSON, gRPC-Web and the web pages (same TLS). 8081:
# plaintext health only, with --health-address 0.0.0.0:8081.
EXPOSE 50051 8080 8081
# SIGTERM starts the drain: health NOT_SERVING at once, calls answered for 1 s more, then new calls refused and
# those in flight given 5 s; exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["rolwijzer-server"]
