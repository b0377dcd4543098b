# syntax=docker/dockerfile:1
# A generic emulator worker host: only the `worker` extra (pyzmq, numpy, msgpack), which is all
# the built-in simulator needs. Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t sf2rl/worker:0.1.0 .
# Run (loopback only unless keys are mounted; see docker/README.md and worker-entrypoint.sh):
#   docker run --rm -p 5555:5555 -v "$PWD/keys:/keys:ro" sf2rl/worker:0.1.0
FROM python:3.11-slim-bookworm

RUN useradd --create-home --uid 1000 --gid 100 worker

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY sf2rl/ sf2rl/
COPY emulator_worker/ emulator_worker/
RUN pip install --no-cache-dir -c constraints.txt ".[worker]"
COPY --chmod=0755 docker/worker-entrypoint.sh /usr/local/bin/worker-entrypoint

USER 1000:100
ENV HOME=/home/worker
ENV WORKER_BACKEND=sim \
    WORKER_SLOTS=2 \
    WORKER_PORT=5555
EXPOSE 5555
# A TCP connect, not `emulator-worker ping`: with CurveZMQ on, a ping needs an authorized client
# key the container does not hold, while the listening socket accepts connections either way.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, socket; socket.create_connection(('127.0.0.1', int(os.environ.get('WORKER_PORT', '5555'))), 3).close()"]
ENTRYPOINT ["worker-entrypoint"]
