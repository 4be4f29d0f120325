"""Training tricks as small hooks on the loop's events; each wraps a pure function tests pin down."""
