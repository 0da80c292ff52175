# syntax=docker/dockerfile:1
# Leadflow services image: one image, one process per container.
#   gateway (default):  python -m services.gateway    HTTP API on LEADFLOW_HTTP_PORT (8000)
#   workers:            python -m services.importer   /healthz, /readyz on LEADFLOW_HEALTH_PORT (8080)
#                       python -m services.sequencer
#   migrations:         leadflow migrate
# Build: docker build -t leadflow:0.1.0 .   (see docs/deploy.md)

############################
# Stage 1: build the wheels
############################
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# .dockerignore lets only the package sources and pyproject.toml through.
COPY . .

# The project's wheel plus a wheel for every dependency, so the runtime stage installs offline and needs
# no compiler. The pip cache mount keeps downloads across builds.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels .

############################
# Stage 2: runtime
############################
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    LEADFLOW_HTTP_HOST=0.0.0.0 \
    LEADFLOW_LOG_JSON=true

# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 leadflow \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin leadflow

# Install from the build stage's wheels only (bind-mounted, so they add nothing to the image's layers).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/leadflow-*.whl \
    && leadflow --help > /dev/null

# Nothing is written here: temporary files go to /tmp (an emptyDir in Kubernetes).
WORKDIR /app

USER 10001:10001

EXPOSE 8000 8080

CMD ["python", "-m", "services.gateway"]
