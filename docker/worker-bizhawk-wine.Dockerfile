# syntax=docker/dockerfile:1
# An emulator worker host running BizHawk's Windows build under Wine (with Xvfb). BizHawk's
# maintainers do not support Wine; prefer worker-bizhawk-mono.Dockerfile, and use this one when
# you need the exact Windows build the talk's team used. BizHawk is downloaded at build time and
# checked against the sha256 you pass; the ROM is mounted at run time, never baked in:
#   docker build -f docker/worker-bizhawk-wine.Dockerfile \
#     --build-arg BIZHAWK_VERSION=2.11.1 --build-arg BIZHAWK_SHA256=<sha256 of the .zip> \
#     -t sf2rl/worker-bizhawk-wine:0.1.0 .
#   docker run --rm -p 5555:5555 -v "$PWD/roms:/roms:ro" -v "$PWD/keys:/keys:ro" sf2rl/worker-bizhawk-wine:0.1.0
FROM python:3.11-slim-bookworm

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG DEBIAN_FRONTEND=noninteractive
# wine/wine64 + wine32:i386: the .NET Framework installer runs 32-bit parts even in a 64-bit prefix.
# winetricks (Debian contrib) + cabextract: install .NET Framework 4.8 and the VC++ runtimes that
#   EmuHawk.exe needs; Wine's own wine-mono lacks parts of WinForms that EmuHawk uses.
# xvfb + xauth: Wine needs an X server for a WinForms program, also while installing .NET.
# unzip, wget, ca-certificates: the BizHawk download below.
RUN dpkg --add-architecture i386 \
    && sed -i 's/^Components: main$/Components: main contrib/' /etc/apt/sources.list.d/debian.sources \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        wine wine64 wine32:i386 winetricks cabextract xvfb xauth unzip wget ca-certificates \
    && rm -rf /var/lib/apt/lists/*

ARG BIZHAWK_VERSION=2.11.1
# No default on purpose: a build must name the exact archive it trusts.
ARG BIZHAWK_SHA256=""
RUN if [ -z "${BIZHAWK_SHA256}" ]; then \
        echo "pass --build-arg BIZHAWK_SHA256=<sha256 of BizHawk-${BIZHAWK_VERSION}-win-x64.zip> (docker/README.md)" >&2; \
        exit 1; \
    fi \
    && wget -q -O /tmp/bizhawk.zip \
        "https://github.com/TASEmulators/BizHawk/releases/download/${BIZHAWK_VERSION}/BizHawk-${BIZHAWK_VERSION}-win-x64.zip" \
    && echo "${BIZHAWK_SHA256}  /tmp/bizhawk.zip" | sha256sum -c - \
    && mkdir -p /tmp/bizhawk \
    && unzip -q /tmp/bizhawk.zip -d /tmp/bizhawk \
    && exe="$(find /tmp/bizhawk -maxdepth 2 -name EmuHawk.exe -print -quit)" \
    && test -n "$exe" \
    && mv "$(dirname "$exe")" /opt/bizhawk \
    && rm -rf /tmp/bizhawk /tmp/bizhawk.zip \
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
    WINEPREFIX=/home/worker/.wine \
    WINEARCH=win64 \
    WINEDEBUG=-all
# The Wine prefix belongs to the worker user, so it is made as that user. `wineserver -w` waits
# for the installers' background processes, or the layer would be committed half-written.
RUN xvfb-run -a winetricks -q --unattended dotnet48 vcrun2022 \
    && wineserver -w
ENV WORKER_BACKEND=bizhawk \
    WORKER_SLOTS=1 \
    WORKER_PORT=5555 \
    WORKER_BACKEND_OPTIONS='{"rom": "/roms/sf2.sfc", "bizhawk_dir": "/opt/bizhawk", "mode": "wine"}'
EXPOSE 5555
# A TCP connect: with CurveZMQ on, `emulator-worker ping` would need an authorized client key.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, socket; socket.create_connection(('127.0.0.1', int(os.environ.get('WORKER_PORT', '5555'))), 3).close()"]
ENTRYPOINT ["worker-entrypoint"]
