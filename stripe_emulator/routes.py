"""A tiny route table: ``(method, path template)`` to handler plus its allowed params."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.params import sdk_params
from stripe_emulator.store import Obj

Handler = Callable[..., Obj]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    regex: re.Pattern[str] | None
    handler: Handler
    allowed: frozenset[str] | None


_STATIC: dict[tuple[str, str], Route] = {}
_DYNAMIC: list[Route] = []


def route(
    method: str,
    template: str,
    params: str | None = None,
    extra: tuple[str, ...] = (),
    *,
    any_params: bool = False,
) -> Callable[[Handler], Handler]:
    """Register ``handler(ctx, params, **path_vars)`` for ``method template``.

    ``params`` names the SDK TypedDict listing accepted parameters; unknown ones are
    rejected with ``parameter_unknown`` unless ``any_params``.
    """

    def register(handler: Handler) -> Handler:
        allowed: frozenset[str] | None = None
        if not any_params:
            allowed = (sdk_params(params) if params else frozenset({"expand"})) | frozenset(extra)
        if "{" in template:
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
            rt = Route(method, template, re.compile(f"^{pattern}$"), handler, allowed)
            _DYNAMIC.append(rt)
        else:
            _STATIC[(method, template)] = Route(method, template, None, handler, allowed)
        return handler

    return register


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    found = _STATIC.get((method, path))
    if found is not None:
        return found, {}
    for rt in _DYNAMIC:
        if rt.method != method:
            continue
        assert rt.regex is not None
        m = rt.regex.match(path)
        if m:
            return rt, m.groupdict()
    return None


def path_exists(path: str) -> bool:
    return any(m for m in (match(x, path) for x in ("GET", "POST", "DELETE")))


def call(rt: Route, ctx: Ctx, params: dict[str, Any], path_vars: dict[str, str]) -> Obj:
    return rt.handler(ctx, params, **path_vars)
