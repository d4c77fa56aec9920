"""Stripe's nested form syntax (``items[0][price]``, ``expand[]``) to and from Python values."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from stripe_emulator.errors import validation

_KEY = re.compile(r"([^\[\]]+)|\[([^\[\]]*)\]")


def _split_key(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    parts = [head]
    if rest:
        parts.extend(m.group(2) for m in _KEY.finditer("[" + rest) if m.group(2) is not None)
    return parts


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        for k, v in list(node.items()):
            node[k] = _listify(v)
        if node and all(isinstance(k, str) and k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
        if "__append__" in node:
            return node["__append__"]
    return node


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Build nested dicts/lists from flat ``(key, value)`` pairs; values stay strings."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        node: dict[str, Any] = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                # ``expand[]=a`` style: append to a list held under a marker key.
                bucket = node.setdefault("__append__", [])
                if not isinstance(bucket, list):
                    raise validation(f"Invalid array: {key}", param=parts[0])
                if last:
                    bucket.append(value)
                    break
                child: dict[str, Any] = {}
                bucket.append(child)
                node = child
                continue
            if last:
                node[part] = value
            else:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[part] = nxt
                node = nxt
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def parse_form(body: bytes) -> dict[str, Any]:
    return parse_pairs(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def parse_query(query: bytes) -> dict[str, Any]:
    return parse_pairs(parse_qsl(query.decode("latin-1"), keep_blank_values=True))


def as_int(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise validation(
        f"Invalid integer: {value}", param=name, code="parameter_invalid_integer"
    )


def as_bool(params: dict[str, Any], name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise validation(f"Invalid boolean: {value}", param=name)


def as_str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise validation(f"Invalid string: {name}", param=name)
    return value


def as_dict(params: dict[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise validation(f"Invalid object: {name}", param=name)
    return value


def as_list(params: dict[str, Any], name: str) -> list[Any]:
    value = params.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return value
    return [value]


def metadata_update(current: dict[str, str], params: dict[str, Any]) -> dict[str, str]:
    """Apply ``metadata`` params: ``""`` clears all, a key set to ``""`` removes it."""
    if "metadata" not in params:
        return current
    raw = params["metadata"]
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise validation("Invalid metadata", param="metadata")
    merged = dict(current)
    for key, value in raw.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[str(key)] = str(value)
    return merged
