# syntax=docker/dockerfile:1
# An emulator worker host running BizHawk's Linux build (EmuHawkMono.sh on Mono, under Xvfb):
# the path BizHawk's maintainers support on Linux. BizHawk is downloaded at build time and
# checked against the sha256 you pass; the ROM is mounted at run time, never baked in:
#   docker build -f docker/worker-bizhawk-mono.Dockerfile \
#     --build-arg BIZHAWK_VERSION=2.11.1 --build-arg BIZHAWK_SHA256=<sha256 of the .tar.gz> \
#     -t sf2rl/worker-bizhawk-mono:0.1.0 .
#   docker run --rm -p 5555:5555 -v "$PWD/roms:/roms:ro" -v "$PWD/keys:/keys:ro" sf2rl/worker-bizhawk-mono:0.1.0
FROM python:3.11-slim-bookworm

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG DEBIAN_FRONTEND=noninteractive
# mono-complete: EmuHawk is a .NET (WinForms) program; BizHawk's Linux build runs it on Mono.
# xvfb + xauth: WinForms needs an X server even headless; the backend wraps EmuHawk in `xvfb-run -a`,
#   which needs xauth (only a Recommends of xvfb, so not pulled in by --no-install-recommends).
# lua5.4 / liblua5.4-0: the Lua runtime EmuHawk loads for --lua (the sf2rl bridge).
# libopenal1: EmuHawk opens OpenAL at start even with sound off.
# lsb-release: EmuHawkMono.sh asks lsb_release for the distro to find the system libraries.
# wget + ca-certificates: the BizHawk download below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        mono-complete xvfb xauth lua5.4 liblua5.4-0 libopenal1 lsb-release wget ca-certificates \
    && rm -rf /var/lib/apt/lists/*

ARG BIZHAWK_VERSION=2.11.1
# No default on purpose: a build must name the exact archive it trusts (sha256 from the release
# page, or `sha256sum` of an archive you downloaded and checked yourself).
ARG BIZHAWK_SHA256=""
RUN if [ -z "${BIZHAWK_SHA256}" ]; then \
        echo "pass --build-arg BIZHAWK_SHA256=<sha256 of BizHawk-${BIZHAWK_VERSION}-linux-x64.tar.gz> (docker/README.md)" >&2; \
        exit 1; \
    fi \
    && wget -q -O /tmp/bizhawk.tar.gz \
        "https://github.com/TASEmulators/BizHawk/releases/download/${BIZHAWK_VERSION}/BizHawk-${BIZHAWK_VERSION}-linux-x64.tar.gz" \
    && echo "${BIZHAWK_SHA256}  /tmp/bizhawk.tar.gz" | sha256sum -c - \
    && mkdir -p /tmp/bizhawk \
    && tar -xzf /tmp/bizhawk.tar.gz -C /tmp/bizhawk \
    && launcher="$(find /tmp/bizhawk -maxdepth 2 -name EmuHawkMono.sh -print -quit)" \
    && test -n "$launcher" \
    && mv "$(dirname "$launcher")" /opt/bizhawk \
    && chmod 0755 /opt/bizhawk/EmuHawkMono.sh \
    && rm -rf /tmp/bizhawk /tmp/bizhawk.tar.gz \
    && useradd --create-home --uid 1000 --gid 100 worker \
    && chown -R 1000:100 /opt/bizhawk
# EmuHawk writes config.ini and its logs into its own folder, hence the worker user owns it.

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY sf2rl/ sf2rl/
COPY emulator_worker/ emulator_worker/
# Pillow decodes the PNG screenshots the bridge sends for replays.
RUN pip install --no-cache-dir -c constraints.txt ".[worker]" pillow
COPY --chmod=0755 docker/worker-entrypoint.sh /usr/local/bin/worker-entrypoint

USER 1000:100
ENV HOME=/home/worker \
    WORKER_BACKEND=bizhawk \
    WORKER_SLOTS=1 \
    WORKER_PORT=5555 \
    WORKER_BACKEND_OPTIONS='{"rom": "/roms/sf2.sfc", "bizhawk_dir": "/opt/bizhawk", "mode": "mono"}'
EXPOSE 5555
# A TCP connect: with CurveZMQ on, `emulator-worker ping` would need an authorized client key.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, socket; socket.create_connection(('127.0.0.1', int(os.environ.get('WORKER_PORT', '5555'))), 3).close()"]
ENTRYPOINT ["worker-entrypoint"]
