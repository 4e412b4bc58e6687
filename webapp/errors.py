"""Domain errors, each with the HTTP status the web layer answers with."""

from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    """The request clashes with the case's current state (e.g. a task already completed)."""

    status = 409


class Invalid(DomainError):
    """Input that fails validation; ``fields`` maps a field name to its messages."""

    status = 422

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class StepFailed(DomainError):
    """The engine could not run the step; it was rolled back and recorded as an incident."""

    status = 409

    def __init__(self, message: str, case_id: int, actor_id: int | None) -> None:
        super().__init__(message)
        self.case_id = case_id
        self.actor_id = actor_id


class TooManyRequests(DomainError):
    status = 429
