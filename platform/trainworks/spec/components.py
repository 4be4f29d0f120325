"""Registry entries as job-spec fields: `{name: <entry>, ...its parameters}`, validated per entry."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Union

from pydantic import BeforeValidator, Field

from trainworks.registry import Entry, Params, Registry


ENTRY_MODELS_MODULE = "trainworks.spec.entry_models"
BUILT: dict[str, type[Params]] = {}  # qualified name -> entry model, looked up by trainworks.spec.entry_models


@cache
def entry_model(entry: Entry) -> type[Params]:
    """The spec model of one entry, built once so that every field shares the same class.

    Built at run time, such a class would be pickled by value, and pydantic cannot always rebuild
    it in another process (a Ray Train controller failed on the warm-up schedule's nested one):
    naming an importable home makes pickles refer to it instead.
    """
    model = entry.spec_model()
    model.__module__ = ENTRY_MODELS_MODULE
    BUILT[model.__qualname__] = model
    return model


def _name_shorthand(value: Any) -> Any:
    """`loss: mse` is short for `loss: {name: mse}`."""
    return {"name": value} if isinstance(value, str) else value


def choice_of(registry: Registry) -> Any:
    """A field type accepting any entry of `registry`, told apart by `name` (editors complete it)."""
    variants = tuple(entry_model(entry) for entry in registry)
    if len(variants) == 1:
        union: Any = variants[0]
    else:
        union = Annotated[Union[variants], Field(discriminator="name")]  # noqa: UP007 (built at run time)
    return Annotated[union, BeforeValidator(_name_shorthand)]
