"""Spec fields that hold another registry entry: Lookahead's base optimiser, warm-up's following schedule."""

from __future__ import annotations

from typing import Annotated, Any, Callable, Union

from pydantic import BeforeValidator, Field

from trainworks.registry import Entry, Registry


def _name_shorthand(value: Any) -> Any:
    """`base: adam` is short for `base: {name: adam}`."""
    return {"name": value} if isinstance(value, str) else value


def nested_choice(registry: Registry, keep: Callable[[Entry], bool]) -> Any:
    """A field accepting, by name, every entry of `registry` registered so far that `keep` accepts.

    Wrappers are registered after what they wrap, so the choice is fixed at import time
    and cannot contain the wrapper itself.
    """
    variants = tuple(entry.spec_model() for entry in registry if keep(entry))
    union: Any = variants[0] if len(variants) == 1 else Annotated[Union[variants], Field(discriminator="name")]
    return Annotated[union, BeforeValidator(_name_shorthand)]
