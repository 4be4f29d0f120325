"""A spec as MLflow params: flattened to dotted keys, with anything that looks like a secret masked."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

SECRET_NAME = re.compile(r"(pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|credential|private[_-]?key"
                         r"|auth|cookie|(^|[_-])key$)", re.I)
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@", re.I)
MASK = "***"
MAX_PARAM_LENGTH = 6000


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(`data.preprocessing.0.size`, 32) pairs for every leaf of nested dicts and lists."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from flatten(child, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value and any(isinstance(item, (dict, list)) for item in value):
        for index, child in enumerate(value):
            yield from flatten(child, f"{prefix}.{index}")
    else:
        yield prefix, value


def as_param_value(value: Any) -> str:
    """Strings stay, everything else becomes compact JSON; over-long values are cut to MLflow's limit."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text[:MAX_PARAM_LENGTH]


def looks_secret(key: str) -> bool:
    """Whether a (dotted) param or tag name names a secret: its last part says password, token, key, ..."""
    return bool(SECRET_NAME.search(key.rsplit(".", 1)[-1]))


def mask_url_password(value: Any) -> Any:
    """`postgresql://user:hunter2@db/x` -> `postgresql://user:***@db/x`; other values unchanged."""
    return URL_PASSWORD.sub(rf"\g<scheme>\g<user>:{MASK}@", value) if isinstance(value, str) else value


def mask_secrets(pairs: dict[str, Any]) -> dict[str, Any]:
    """Values whose names look like secrets become ***, and passwords inside URLs too: neither reaches MLflow."""
    return {key: (MASK if looks_secret(key) else mask_url_password(value)) for key, value in pairs.items()}


def spec_params(spec_dump: dict[str, Any]) -> dict[str, str]:
    """The params logged for a run: the resolved spec, flattened and masked."""
    return {key: as_param_value(value) for key, value in mask_secrets(dict(flatten(spec_dump))).items()}
