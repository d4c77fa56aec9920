"""Turning stored objects into responses: expansion, includable fields, list pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import validation
from stripe_emulator.forms import as_int, as_list
from stripe_emulator.store import Obj

Includer = Callable[[Ctx, Obj], Any]

# object kind -> field -> function computing the field when it is expanded.
INCLUDABLE: dict[str, dict[str, Includer]] = {}


def includable(kind: str, field: str) -> Callable[[Includer], Includer]:
    def register(fn: Includer) -> Includer:
        INCLUDABLE.setdefault(kind, {})[field] = fn
        return fn

    return register


def _tree(paths: Iterable[str]) -> dict[str, list[str]]:
    tree: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        subs = tree.setdefault(head, [])
        if rest:
            subs.append(rest)
    return tree


def expand_params(params: dict[str, Any]) -> list[str]:
    return [str(p) for p in as_list(params, "expand")]


def render(ctx: Ctx, obj: Obj, expand: list[str] | None = None) -> Obj:
    """Public view of ``obj`` with ``expand`` paths resolved."""
    out = {k: v for k, v in obj.items() if k[0] != "_"}
    if expand:
        _apply(ctx, obj, out, _tree(expand))
    return out


def _apply(ctx: Ctx, source: Obj, out: Obj, tree: dict[str, list[str]]) -> None:
    includers = INCLUDABLE.get(str(source.get("object")), {})
    for field, subs in tree.items():
        if field in includers:
            out[field] = _expand_value(ctx, includers[field](ctx, source), subs)
        elif field in out:
            out[field] = _expand_value(ctx, out[field], subs, field)
        else:
            raise validation(
                f"This property cannot be expanded ({field}).", param="expand"
            )


def _expand_value(ctx: Ctx, value: Any, subs: list[str], field: str = "") -> Any:
    if isinstance(value, str):
        target = ctx.account.objects.get(value)
        if target is None:
            return value
        return render(ctx, target, subs)
    if isinstance(value, dict):
        if value.get("object") == "list":
            inner = [s.partition(".")[2] for s in subs if s.split(".")[0] == "data"]
            inner = [s for s in inner if s]
            copied = dict(value)
            copied["data"] = [
                render(ctx, ctx.account.objects.get(item["id"], item), inner)
                if isinstance(item, dict) and "id" in item
                else item
                for item in value.get("data", [])
            ]
            return copied
        copied = dict(value)
        if subs:
            _apply(ctx, value, copied, _tree(subs))
        return copied
    if value is None:
        return None
    return value


def list_response(
    ctx: Ctx,
    items: Iterable[Obj],
    params: dict[str, Any],
    url: str,
    expand: list[str] | None = None,
) -> Obj:
    """Paginate newest-first ``items`` with ``limit``/``starting_after``/``ending_before``."""
    limit = as_int(params, "limit", 10)
    assert limit is not None
    if limit < 1 or limit > 100:
        raise validation(
            "Invalid limit: must be between 1 and 100", param="limit"
        )
    created = params.get("created")
    if created not in (None, ""):
        items = _created_filter(items, created)
    starting_after = params.get("starting_after") or None
    ending_before = params.get("ending_before") or None
    sub = [s.partition(".")[2] for s in (expand or []) if s.startswith("data.")]
    page: list[Obj] = []
    has_more = False
    if ending_before:
        before: list[Obj] = []
        for obj in items:
            if obj["id"] == ending_before:
                break
            before.append(obj)
        has_more = len(before) > limit
        page = before[-limit:]
    else:
        seen = starting_after is None
        for obj in items:
            if not seen:
                seen = obj["id"] == starting_after
                continue
            if len(page) == limit:
                has_more = True
                break
            page.append(obj)
    return {
        "object": "list",
        "data": [render(ctx, o, sub) for o in page],
        "has_more": has_more,
        "url": url,
    }


def _created_filter(items: Iterable[Obj], created: Any) -> Iterable[Obj]:
    if isinstance(created, dict):
        bounds = {k: int(v) for k, v in created.items()}
        for obj in items:
            ts = int(obj.get("created") or 0)
            if "gt" in bounds and not ts > bounds["gt"]:
                continue
            if "gte" in bounds and not ts >= bounds["gte"]:
                continue
            if "lt" in bounds and not ts < bounds["lt"]:
                continue
            if "lte" in bounds and not ts <= bounds["lte"]:
                continue
            yield obj
    else:
        exact = int(created)
        for obj in items:
            if int(obj.get("created") or 0) == exact:
                yield obj
