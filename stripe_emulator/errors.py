"""Stripe's error envelope and the HTTP statuses that go with it."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error answered as ``{"error": {...}}``.

    ``stored`` says whether the idempotency layer keeps the response: Stripe does not store
    requests rejected before execution (validation failures, 401, 429, key collisions).
    """

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        stored: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.headers = headers or {}
        self.stored = stored

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            err["param"] = self.param
        if self.decline_code is not None:
            err["decline_code"] = self.decline_code
        err.update(self.extra)
        return {"error": err}


def invalid_request(
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    status: int = 400,
    stored: bool = True,
) -> StripeError:
    return StripeError(status, "invalid_request_error", message, code=code, param=param, stored=stored)


def validation(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    """A parameter validation failure (never stored under an idempotency key)."""
    return invalid_request(message, param=param, code=code, stored=False)


def unknown_parameter(param: str) -> StripeError:
    return validation(f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def missing_parameter(param: str) -> StripeError:
    return validation(f"Missing required param: {param}.", param=param, code="parameter_missing")


def resource_missing(kind: str, obj_id: str, param: str = "id") -> StripeError:
    return invalid_request(
        f"No such {kind}: '{obj_id}'", param=param, code="resource_missing", status=404
    )


def unexpected_state(code: str, message: str) -> StripeError:
    return invalid_request(message, code=code)


def authentication(message: str) -> StripeError:
    return StripeError(401, "invalid_request_error", message, stored=False)


def rate_limited(message: str = "Too many requests hit the API too quickly.") -> StripeError:
    return StripeError(
        429, "invalid_request_error", message, code="rate_limit", stored=False
    )


def api_error(message: str = "An unknown error occurred.") -> StripeError:
    return StripeError(500, "api_error", message, stored=False)
