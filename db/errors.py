"""One error tree for the service layer; the REST API and the agent tools translate it."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A failure the caller can show: a code, an HTTP status, a message and details."""

    code = "error"
    status = 400

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFound(ServiceError):
    code, status = "not_found", 404


class Forbidden(ServiceError):
    code, status = "forbidden", 403


class Unauthorized(ServiceError):
    code, status = "unauthorized", 401


class Conflict(ServiceError):
    code, status = "conflict", 409


class Invalid(ServiceError):
    code, status = "invalid", 422
