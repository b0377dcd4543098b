# syntax=docker/dockerfile:1
# An emulator worker host with stable-retro (libretro cores: Genesis, SNES, ...). It runs the one
# ROM stable-retro ships (Airstriker-Genesis-v0) out of the box; for Street Fighter II, mount the
# ROM you own at /roms and it is imported at start (python -m stable_retro.import /roms):
#   docker build -f docker/worker-retro.Dockerfile -t sf2rl/worker-retro:0.1.0 .
#   docker run --rm -p 5555:5555 -v "$PWD/roms:/roms:ro" -v "$PWD/keys:/keys:ro" \
#     -e WORKER_BACKEND_OPTIONS='{"game": "StreetFighterIISpecialChampionEdition-Genesis-v0"}' \
#     sf2rl/worker-retro:0.1.0
FROM python:3.11-slim-bookworm

RUN useradd --create-home --uid 1000 --gid 100 worker

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY sf2rl/ sf2rl/
COPY emulator_worker/ emulator_worker/
# The import at start writes ROMs into stable-retro's own data folder, so the worker user owns it.
RUN pip install --no-cache-dir -c constraints.txt ".[worker,retro]" \
    && chown -R 1000:100 "$(python -c 'import os, stable_retro; print(os.path.dirname(stable_retro.__file__))')/data"
COPY --chmod=0755 docker/worker-entrypoint.sh /usr/local/bin/worker-entrypoint

USER 1000:100
ENV HOME=/home/worker \
    WORKER_BACKEND=retro \
    WORKER_SLOTS=2 \
    WORKER_PORT=5555 \
    WORKER_BACKEND_OPTIONS='{"game": "Airstriker-Genesis-v0"}'
EXPOSE 5555
# A TCP connect: with CurveZMQ on, `emulator-worker ping` would need an authorized client key.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, socket; socket.create_connection(('127.0.0.1', int(os.environ.get('WORKER_PORT', '5555'))), 3).close()"]
ENTRYPOINT ["worker-entrypoint"]
