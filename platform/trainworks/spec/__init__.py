"""The typed job spec: schema, loading with overrides, and errors that name the field to fix."""

from trainworks.spec.errors import Issue, SpecError
from trainworks.spec.load import load_spec, spec_to_yaml, validate_spec
from trainworks.spec.schema import JobSpec
from trainworks.spec import entry_models  # noqa: F401,E402  (so pickles of specs name their entry models)

__all__ = ["Issue", "JobSpec", "SpecError", "load_spec", "spec_to_yaml", "validate_spec"]
