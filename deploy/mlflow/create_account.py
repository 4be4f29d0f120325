"""Create (or re-password) the MLflow account the Ray cluster logs with, so no cluster process holds the admin password.

Runs once after the MLflow server is healthy (compose: the `mlflow-account` service;
Kubernetes: the `mlflow-account` Job). It signs in as the admin through
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD and makes sure the account named by
TRAINWORKS_MLFLOW_USERNAME exists with TRAINWORKS_MLFLOW_PASSWORD: running it again after
the password changed in the secrets brings the server in line. Exit status 0 on success.
"""

from __future__ import annotations

import os
import sys

from mlflow.exceptions import RestException
from mlflow.server.auth.client import AuthServiceClient


def ensure_account(client: AuthServiceClient, username: str, password: str) -> str:
    """Create `username` with `password`, or set that password if the account exists; says which."""
    try:
        client.get_user(username)
    except RestException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        client.create_user(username, password)
        return "created"
    client.update_user_password(username, password)
    return "updated"


def main() -> int:
    """Read the addresses and credentials from the environment and ensure the account."""
    missing = [name for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                                 "TRAINWORKS_MLFLOW_USERNAME", "TRAINWORKS_MLFLOW_PASSWORD")
               if not os.environ.get(name)]
    if missing:
        print(f"create_account: set {', '.join(missing)}", file=sys.stderr)
        return 2
    username = os.environ["TRAINWORKS_MLFLOW_USERNAME"]
    if username == os.environ["MLFLOW_TRACKING_USERNAME"]:
        print("create_account: the cluster account must not be the admin account", file=sys.stderr)
        return 2
    outcome = ensure_account(AuthServiceClient(os.environ["MLFLOW_TRACKING_URI"]), username,
                             os.environ["TRAINWORKS_MLFLOW_PASSWORD"])
    print(f"MLflow account {username!r} {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
