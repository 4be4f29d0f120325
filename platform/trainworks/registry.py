"""One small generic registry: every trick, model, data set and loss is a name in one."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, create_model, model_validator

from trainworks.strict_numbers import booleans_as_text

BuilderT = TypeVar("BuilderT", bound=Callable[..., Any])


class Params(BaseModel):
    """Base of every entry's parameters: strict, so a misspelt key is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_boolean_numbers(cls, data: object) -> object:
        return booleans_as_text(cls, data)


class NoParams(Params):
    """For entries that take nothing but their name."""


class UnknownNameError(KeyError):
    """A name that no registry entry answers to; the message lists the valid ones."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(describe_unknown(kind, name, valid))

    def __str__(self) -> str:
        return self.args[0]


def describe_unknown(kind: str, name: str, valid: list[str]) -> str:
    """The one message users see for a wrong name: what was given, what is valid, the nearest."""
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}'{hint}; valid: {', '.join(valid)}"


@dataclass(frozen=True)
class Entry(Generic[BuilderT]):
    """A registered name: what builds it, what parameters it takes, one line on why to use it."""

    kind: str
    name: str
    build: BuilderT
    params: type[Params]
    summary: str
    tags: frozenset[str]

    def spec_model(self) -> type[Params]:
        """The job-spec form of this entry: its parameters plus `name: Literal[<name>]`."""
        model = create_model(
            f"{self.kind.title().replace(' ', '')}_{self.name}",
            __base__=self.params,
            __doc__=self.summary,
            name=(Literal[self.name], ...),
        )
        model.registry_kind = self.kind  # lets error messages say "unknown model" rather than "unknown value"
        return model


class Registry(Generic[BuilderT]):
    """Names to builders for one kind of component; unknown names fail with the valid choices."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[BuilderT]] = {}

    def register(
        self,
        name: str,
        params: type[Params] = NoParams,
        tags: tuple[str, ...] = (),
    ) -> Callable[[BuilderT], BuilderT]:
        """Decorator: register a builder under `name`; its docstring's first line is its summary."""

        def add(build: BuilderT) -> BuilderT:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            summary = (build.__doc__ or "").strip().splitlines()[0] if build.__doc__ else ""
            if not summary:
                raise ValueError(f"{self.kind} '{name}' needs a one-line docstring")
            self._entries[name] = Entry(self.kind, name, build, params, summary, frozenset(tags))
            return build

        return add

    def get(self, name: str) -> Entry[BuilderT]:
        """The entry for `name`, or an error that names the valid choices."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry[BuilderT]]:
        return iter(self._entries[name] for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
