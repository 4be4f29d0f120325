"""The registry: names resolve, unknown names list the valid ones, every entry explains itself."""

from __future__ import annotations

import pytest

from trainworks.catalog import REGISTRIES, registry_for
from trainworks.registry import NoParams, Registry, UnknownNameError


def test_unknown_name_lists_valid_names_and_suggests_the_closest() -> None:
    registry: Registry = Registry("widget")

    @registry.register("sprocket")
    def sprocket() -> None:
        """A sprocket."""

    @registry.register("gear")
    def gear() -> None:
        """A gear."""

    with pytest.raises(UnknownNameError) as caught:
        registry.get("sprocet")
    message = str(caught.value)
    assert "unknown widget 'sprocet'" in message
    assert "did you mean 'sprocket'" in message
    assert "valid: gear, sprocket" in message


def test_registering_a_name_twice_or_without_docstring_fails() -> None:
    registry: Registry = Registry("widget")

    def documented() -> None:
        """Documented."""

    registry.register("a", NoParams)(documented)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("a")(documented)
    with pytest.raises(ValueError, match="docstring"):
        registry.register("b")(lambda: None)


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_every_entry_has_a_one_line_summary(kind: str) -> None:
    registry = REGISTRIES[kind]
    assert len(registry) > 0
    for entry in registry:
        assert entry.summary and "\n" not in entry.summary, f"{kind} '{entry.name}' has no one-line summary"


@pytest.mark.parametrize("alias", ["model", "models"])
def test_kinds_resolve_singular_and_plural(alias: str) -> None:
    assert registry_for(alias) is REGISTRIES["models"]


def test_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(KeyError, match="valid: datasets"):
        registry_for("widgets")
