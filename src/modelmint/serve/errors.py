"""One JSON error shape for every failure: {"ok": false, "error", "errors", "status", "request_id"}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelmint.errors import ModelMintError, Overloaded, RateLimited

logger = logging.getLogger(__name__)


def error_response(
    request: Request,
    status: int,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    rid = getattr(request.state, "request_id", None)
    body = {
        "ok": False,
        "error": message,
        "errors": errors or [],
        "status": status,
        "request_id": rid,
    }
    return JSONResponse(body, status_code=status, headers=headers)


class ErrorItem(BaseModel):
    field: str | None = Field(default=None, description="Where: e.g. 'inputs.0.age'.")
    message: str | None = None
    type: str | None = None


class ErrorBody(BaseModel):
    """The one shape of every error response."""

    ok: bool = Field(default=False, description="Always false.")
    error: str = Field(description="What was wrong and how to fix it.")
    errors: list[dict[str, Any]] = Field(
        description="Details: per field for validation errors (field, message, type); the "
        "limit and retry_after for 429."
    )
    status: int = Field(description="The HTTP status, repeated.")
    request_id: str | None = Field(description="Quote it to the operator; also X-Request-ID.")


_MEANING = {
    400: "Invalid input: the message names the field and the fix.",
    401: "Missing, unknown, revoked or expired credential.",
    403: "Authenticated, but this key may not do this (scope, read-only, suspended tenant).",
    404: "Unknown scenario, prediction, invoice or resource.",
    409: "Conflict: an Idempotency-Key reused for another request, or a concurrent change.",
    413: "Too many inputs, too long an input, or too large a body.",
    415: "The body is not sent as application/json.",
    422: "The body does not have the documented shape.",
    429: "Rate limit, quota, budget or failed-authentication limit; see Retry-After.",
    503: "At capacity or not ready; see Retry-After.",
    504: "The request ran past the server's timeout; nothing was metered.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route sends, with the error schema."""
    return {code: {"model": ErrorBody, "description": _MEANING[code]} for code in codes}


ADMIN_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)

_TYPE_TAGS = {"str", "int", "float", "bool", "none", "list", "dict", "nullable", "union"}


def _is_tag(part: str) -> bool:
    """pydantic's names for union branches and validators ('dict[str,nullable[...]]',
    'str', 'function-after[...]') that it puts in an error's location: not field names."""
    return "[" in part or part in _TYPE_TAGS or part.startswith("function-")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a text", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _input_error(index: str, item: Any) -> dict[str, Any]:
    """One plain error for a predict input that fits none of the accepted shapes."""
    if isinstance(item, dict):
        bad = [k for k, v in item.items() if v is not None and not isinstance(v, str | int | float)]
        if bad:
            return {
                "field": f"inputs.{index}.{bad[0]}",
                "message": f"input {index} feature '{bad[0]}' is {_kind(item[bad[0]])}; send a "
                "string, a number, a boolean or null",
                "type": "feature_type",
            }
    if isinstance(item, list):
        return {
            "field": f"inputs.{index}",
            "message": f"input {index} is a list with a non-text item; a list input is the "
            "tokens of one text, each a string",
            "type": "tokens_type",
        }
    return {
        "field": f"inputs.{index}",
        "message": f"input {index} is {_kind(item)}; send a text, an object of features, or a "
        "list of tokens (see the scenario's task)",
        "type": "input_type",
    }


def _clean_validation(errs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's errors with field paths a caller can read: no type tags, and one error per
    predict input instead of one per union branch it failed."""
    out = []
    inputs_done: set[str] = set()
    for e in errs:
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        if len(loc) >= 3 and loc[0] == "inputs" and loc[1].isdigit() and _is_tag(loc[2]):
            if loc[1] not in inputs_done:
                inputs_done.add(loc[1])
                # the first branch's error carries the item itself as its input
                out.append(_input_error(loc[1], e.get("input")))
            continue
        field = ".".join(p for p in loc if not _is_tag(p)) or "body"
        out.append({"field": field, "message": e.get("msg", "invalid"), "type": e.get("type")})
    return out


def _is_json(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


def install(app: FastAPI) -> None:
    @app.exception_handler(ModelMintError)
    async def _mm(request: Request, exc: ModelMintError) -> JSONResponse:
        headers = None
        errors = list(exc.details)
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
            errors = [{"limit": exc.limit, "retry_after": exc.retry_after}, *errors]
        elif isinstance(exc, Overloaded):
            headers = {"Retry-After": str(exc.retry_after)}
        if exc.http_status >= 500:
            logger.error("server error: %s", exc.message)
        return error_response(request, exc.http_status, exc.message, errors, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_validation(list(exc.errors()))
        body_error = any(e["field"] == "body" for e in errors)
        if body_error and request.method in ("POST", "PUT", "PATCH") and not _is_json(request):
            ctype = request.headers.get("content-type") or "none"
            return error_response(
                request,
                415,
                f"the request body must be JSON, sent with 'Content-Type: application/json' "
                f"(this request's Content-Type: {ctype[:100]})",
                errors,
            )
        if any(e["type"] == "json_invalid" for e in errors):
            return error_response(
                request, 400, "the request body is not valid JSON; send a JSON object", errors
            )
        if body_error and any(e["type"] == "model_attributes_type" for e in errors):
            return error_response(
                request, 422, "the request body must be a JSON object; see /docs", errors
            )
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        message = first["message"]
        if not message.startswith("input "):
            message = f"{first['field']}: {message}"
        return error_response(request, 422, f"invalid request: {message}", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        msg = str(exc.detail)
        if exc.status_code == 400 and msg == "There was an error parsing the body":
            msg = (  # FastAPI's words for a body that is not UTF-8
                "the request body could not be read as UTF-8 JSON; encode it as UTF-8 and send "
                "'Content-Type: application/json'"
            )
        elif exc.status_code == 404:
            msg = f"no such endpoint {request.method} {request.url.path}; see /docs"
        elif exc.status_code == 405:
            msg = f"method {request.method} is not allowed on {request.url.path}; see /docs"
        return error_response(request, exc.status_code, msg, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal server error; it has been logged")
