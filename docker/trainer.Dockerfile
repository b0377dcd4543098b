# syntax=docker/dockerfile:1
# The trainer image: sf2rl with the pinned training stack (Ray/RLlib/Tune, CPU torch, MLflow,
# stable-retro). One image serves as Ray head and worker (Ray cluster launcher, KubeRay) and as
# the driver of `ray job submit`. Build from the repository root:
#   docker build -f docker/trainer.Dockerfile -t sf2rl/trainer:0.1.0 .
FROM python:3.11-slim-bookworm

ARG DEBIAN_FRONTEND=noninteractive
# bash + wget: KubeRay's liveness/readiness probes run `bash -c "wget ... | grep success"`.
# rsync + openssh-client: the Ray cluster launcher rsyncs files into the container through
# `docker exec -i`, and the head's autoscaler reaches worker VMs over SSH.
# procps: `ps`/`kill` for `ray stop` and for debugging a node by hand.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bash wget rsync openssh-client procps ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# Ray's images use uid 1000 / gid 100 ("users"); matching them keeps volumes portable between the two.
# USER is numeric below: Kubernetes can only verify runAsNonRoot for a numeric user.
RUN useradd --create-home --uid 1000 --gid 100 --shell /bin/bash ray

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAY_USAGE_STATS_ENABLED=0
WORKDIR /app

# Dependencies first, in their own layer, so that a code change does not reinstall torch and Ray.
# torch comes from PyTorch's CPU index: the PyPI wheel pulls several GB of CUDA libraries.
# --no-deps there: torch's own dependencies are resolved below from PyPI under constraints.txt.
# The first sf2rl install sees no packages yet (only pyproject.toml); it exists to pull the extras.
# ray[default] adds the dashboard, job server and autoscaler that a head node runs: KubeRay's
# probes, RayJob and `ray job submit` talk to them. The `train` extra only has rllib and tune.
COPY constraints.txt pyproject.toml README.md ./
RUN pip install --no-cache-dir --no-deps --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install --no-cache-dir -c constraints.txt ".[train,retro]" "ray[default]"

# Editable, so that exactly one copy of the code exists in the image (no site-packages twin
# shadowing /app) and a checkout mounted over /app is what runs.
COPY --chown=ray:users . .
RUN pip install --no-cache-dir --no-deps -c constraints.txt -e . \
    && chown -R ray:users /app \
    && chown -R ray:users "$(python -c 'import os, stable_retro; print(os.path.dirname(stable_retro.__file__))')/data"

USER 1000:100
ENV HOME=/home/ray
# 6379 GCS, 8265 dashboard and job API, 10001 Ray client. Listed for documentation only:
# the launcher runs the container with --net=host, KubeRay declares its own ports.
EXPOSE 6379 8265 10001
CMD ["bash"]
