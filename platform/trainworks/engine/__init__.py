"""The training loop, its events and checkpoints; it knows nothing of Ray or MLflow."""
