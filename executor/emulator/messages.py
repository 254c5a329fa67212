"""The emulator's requests and answers, and the CloudError an answer can be."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol


class Headers(Protocol):
    """Case-insensitive header look-up (http.server's message object)."""

    def get(self, name: str, default: None = None) -> str | None: ...


@dataclass
class Request:
    method: str
    path: str  # decoded, without the query
    target: str  # as sent: path and query
    query: dict[str, str]  # first value of each parameter, keys lower-cased
    headers: Headers
    body: bytes = b""

    def q(self, name: str) -> str | None:
        return self.query.get(name.lower())


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    vm: str | None = None
    vms: list[str] | None = None
    operation: str | None = None
    error: str | None = None
    drop: bool = False  # close the connection without an answer (an outage that refuses)


class ArmError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[dict[str, str]] | None = None,
        wrapped: bool = True,
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.details = details
        self.wrapped = wrapped  # {"error": {...}}; Compute's 429 sends the CloudError body unwrapped


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode()
    return Response(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def error_response(err: ArmError) -> Response:
    error: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.details:
        error["details"] = err.details
    response = json_response(err.status, {"error": error} if err.wrapped else error, err.headers)
    response.error = err.code
    return response
