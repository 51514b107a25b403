"""The service's one refusal: an HTTP status and a sentence saying what was wrong."""

from __future__ import annotations


class Refused(Exception):
    def __init__(self, status: int, detail: str, submission_id: int | None = None):
        super().__init__(detail)
        self.status, self.detail, self.submission_id = status, detail, submission_id
