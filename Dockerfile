# syntax=docker/dockerfile:1
# One image for every trainworks service: the Ray head, the Ray workers, the MLflow
# tracking server and one-shot jobs (deploy/docker-compose.yml, k8s/).
#
#   docker build -t trainworks:0.1.0 .                               # CPU PyTorch (default)
#   docker build -t trainworks-cuda:0.1.0 \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .   # CUDA 12.8 PyTorch
#
# The CUDA wheels bring their own CUDA runtime; the host needs only the NVIDIA driver and
# the NVIDIA Container Toolkit. Python 3.11 matches the version the project is tested on.
FROM python:3.11-slim-bookworm

# Where PyTorch comes from: the CPU-only index keeps the image ~2 GB smaller than CUDA wheels.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/trainworks \
    PATH=/opt/trainworks/bin:$PATH \
    MLFLOW_DISABLE_TELEMETRY=true \
    RAY_USAGE_STATS_ENABLED=0

# A virtual environment owned by root (the service user can run it but not change it), and
# PyTorch first, from the chosen index: `pip install .` below keeps it (it satisfies torch>=2.4).
RUN python -m venv /opt/trainworks \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch>=2.4,<3" "torchvision>=0.19,<1"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY platform ./platform
# The project, plus what the server side needs: MLflow's basic-auth app, the PostgreSQL
# driver (backend store) and boto3 (S3 artifact store).
RUN pip install --no-cache-dir . "mlflow[auth]>=3.0,<4" "psycopg2-binary>=2.9,<3" "boto3>=1.34,<2" \
    && trainworks list models > /dev/null

# Example job files (the image runs the quick start with nothing mounted) and the MLflow
# server's auth settings + account bootstrap script, shared by compose and Kubernetes.
COPY jobs /app/jobs
COPY deploy/mlflow /app/deploy/mlflow

# An unprivileged user with a home (Ray keeps its session files under /tmp/ray, MLflow
# its caches under $HOME); numeric so Kubernetes' runAsNonRoot can verify it. /shared
# (checkpoints) and /var/lib/mlflow-auth (MLflow's user database) are volume mount points:
# a new named volume takes the owner of the folder it is mounted on.
RUN useradd --create-home --uid 1000 --user-group --shell /usr/sbin/nologin trainworks \
    && mkdir -p /shared /var/lib/mlflow-auth \
    && chown trainworks:trainworks /shared /var/lib/mlflow-auth
WORKDIR /home/trainworks
USER 1000:1000

CMD ["trainworks", "--help"]
