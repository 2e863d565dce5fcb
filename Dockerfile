# syntax=docker/dockerfile:1
# hubgate's container image. Build: `docker build -t hubgate:0.1.0 .`; run it as docs/deploy.md says.
#
# modelscan needs Python < 3.13, hence 3.12. The base is pinned to a patch release and a Debian release:
# bump it on purpose (and rebuild for security updates of the base).
ARG PYTHON_IMAGE=python:3.12.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The venv is made here and copied whole into the runtime stage, so whatever installing needed (pip,
# sources, build backends, anything a wheel needed to build) stays in this stage. It gets no pip of its
# own: the base's pip installs into it.
# First the dependencies, exactly as locked: every file must match a sha256 in the lock (scripts/lock.sh
# refreshes it). The sigstore extra is in the lock: keyless model signatures verify offline.
COPY requirements/hubgate.lock ./requirements/
RUN python -m venv --without-pip /opt/hubgate \
    && python -m pip --python /opt/hubgate/bin/python install --require-hashes \
       --requirement requirements/hubgate.lock
# Then hubgate itself, without resolving anything again (a separate layer: a change of the sources alone
# reuses the dependencies' layer).
COPY pyproject.toml README.md ./
COPY mirror ./mirror
COPY scanners ./scanners
COPY storage ./storage
RUN python -m pip --python /opt/hubgate/bin/python install --no-deps .

FROM ${PYTHON_IMAGE} AS runtime
# Declared again to be seen inside this stage (for the base.name label): an ARG before the first FROM
# only names base images.
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="hubgate" \
      org.opencontainers.image.description="A self-hosted mirror and security gate for the Hugging Face Hub" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# A fixed uid/gid, so that Kubernetes' runAsNonRoot can check it and volumes can be chowned to it.
RUN groupadd --system --gid 10001 hubgate \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin hubgate

# The venv as the build stage left it, root-owned: hubgate cannot change its own code.
COPY --from=build /opt/hubgate /opt/hubgate
RUN mkdir /data \
    && chown 10001:10001 /data

# Every write goes to /data (spool, and the disk store and SQLite when used) or /tmp (TMPDIR: the
# scanner pool's forkserver socket, scratch files of the scanners), so the root filesystem can be
# read-only. HOME points at /tmp for libraries that keep a cache under it.
# These variables beat a config file's values: the host must be 0.0.0.0 in a container; set the port in
# the config file or as HUBGATE_SERVER__PORT (the health check reads the latter, default 8080).
ENV PATH=/opt/hubgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    HUBGATE_DATA_DIR=/data \
    HUBGATE_SERVER__HOST=0.0.0.0

USER 10001:10001
WORKDIR /data
EXPOSE 8080

# No curl in a slim image: Python asks /healthz, ignoring any HTTP(S)_PROXY meant for the upstream Hub.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:' + os.environ.get('HUBGATE_SERVER__PORT', '8080') + '/healthz', timeout=4)"]

# Settings come from HUBGATE_* variables and, with HUBGATE_CONFIG=/etc/hubgate/config.toml, a mounted file.
ENTRYPOINT ["hubgate"]
CMD ["serve"]
