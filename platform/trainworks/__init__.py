"""trainworks: training tricks by name, run data-parallel on Ray Train, recorded in MLflow."""

__version__ = "0.1.0"
