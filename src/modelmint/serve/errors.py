"""One JSON error shape for every failure: {"ok": false, "error", "errors", "status", "request_id"}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


def _clean_validation(errs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errs:
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        out.append(
            {
                "field": ".".join(loc) or "body",
                "message": e.get("msg", "invalid"),
                "type": e.get("type"),
            }
        )
    return out


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
        if any(e["type"] == "json_invalid" for e in errors):
            return error_response(
                request, 400, "the request body is not valid JSON; send a JSON object", errors
            )
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return error_response(
            request, 422, f"invalid request: {first['field']}: {first['message']}", errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        msg = str(exc.detail)
        if exc.status_code == 404:
            msg = f"no such endpoint {request.method} {request.url.path}; see /docs"
        elif exc.status_code == 405:
            msg = f"method {request.method} is not allowed on {request.url.path}; see /docs"
        return error_response(request, exc.status_code, msg, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal server error; it has been logged")
