"""The response envelope every route answers with, and the handlers that keep errors in it.

Success: `{"success": true, "data": ...}`; failure: `{"success": false, "error": {"code", "message",
"field"}}` with a 4xx (or 5xx for billflow's own faults). Routers raise `ApiError` for anything the
caller should see; validation problems, malformed JSON and HTTP errors are turned into the same shape,
so no malformed input ever produces a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any, Generic, TypeVar

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("billflow.api")

T = TypeVar("T")


class ErrorBody(BaseModel):
    """What went wrong: a stable `code`, a readable `message`, the offending `field` if any."""

    code: str
    message: str
    field: str | None = None


class Envelope(BaseModel, Generic[T]):
    """A successful response."""

    success: bool = True
    data: T


class ErrorEnvelope(BaseModel):
    """A failed response."""

    success: bool = False
    error: ErrorBody


class ApiError(Exception):
    """An error a route wants the caller to see, with its HTTP status."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def ok(data: T) -> Envelope[T]:
    """Wrap a route's result."""
    return Envelope[T](data=data)


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, field=field))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


# Error responses every route may produce, for the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope, "description": text}
    for code, text in {
        400: "Bad request",
        401: "Missing or unknown API key",
        403: "Missing scope",
        404: "Not found",
        409: "Conflict",
        422: "Invalid input",
    }.items()
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Extra documented error statuses for one route (e.g. 502 when a dependency is down)."""
    texts = {413: "Payload too large", 502: "Upstream error", 503: "Temporarily unavailable"}
    return {c: {"model": ErrorEnvelope, "description": texts.get(c, "Error")} for c in codes}


def _field(loc: tuple[int | str, ...] | list[int | str]) -> str | None:
    """`("body", "stripe", "secret_key")` -> `"stripe.secret_key"`; headers keep their name."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or None


def _validation_response(errors: list[Any]) -> JSONResponse:
    if not errors:
        return error_response(422, "invalid_request", "the request is invalid")
    first = errors[0]
    loc = tuple(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        return error_response(400, "malformed_json", "the request body is not valid JSON", None)
    field = _field(loc)
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "missing" and loc and loc[0] == "header":
        return error_response(400, "missing_header", f"the {field} header is required", field)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return error_response(422, "invalid_request", f"{field or 'body'}: {message}{more}", field)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.field)


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _validation_response(list(jsonable_encoder(exc.errors())))


async def _pydantic_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    return _validation_response(list(jsonable_encoder(exc.errors(include_url=False, include_input=False))))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), None, dict(exc.headers or {}))


async def _database_value(_: Request, exc: Exception) -> JSONResponse:
    # The database refused a value validation let through (e.g. a NUL character in a string).
    log.info("database refused a value: %s", type(exc).__name__)
    return error_response(422, "invalid_value", "a value contains characters that cannot be stored")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "billflow hit an internal error; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the envelope."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _pydantic_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _database_value)
    app.add_exception_handler(Exception, _unexpected)
