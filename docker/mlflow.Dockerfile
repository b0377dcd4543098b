# syntax=docker/dockerfile:1
# The MLflow tracking server of compose.yaml: MLflow (the version sf2rl pins) plus the drivers its
# stores need: psycopg2 for PostgreSQL (runs, params, metrics) and boto3 for MinIO/S3 (artifacts).
#   docker build -f docker/mlflow.Dockerfile -t sf2rl/mlflow:3.17.2 .
FROM python:3.11-slim-bookworm

RUN useradd --create-home --uid 1000 --gid 100 mlflow
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY constraints.txt /tmp/constraints.txt
# mlflow is pinned by constraints.txt; the two drivers are not sf2rl dependencies, so pinned here.
RUN pip install --no-cache-dir -c /tmp/constraints.txt mlflow psycopg2-binary==2.9.13 boto3==1.44.5 \
    && rm /tmp/constraints.txt

USER 1000:100
ENV HOME=/home/mlflow \
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
ENTRYPOINT ["mlflow"]
CMD ["server", "--host", "0.0.0.0", "--port", "5000"]
