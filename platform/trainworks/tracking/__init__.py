"""MLflow: run lifecycle, params, metrics, artifacts, plots, registry; handed to the runtime, never imported by the engine."""
