"""What a service refuses with: the one error type every entry point turns into its own answer
(REST: a 400 naming the field, or 429 for a quota; web forms: the field's error; commands: their message)."""

from __future__ import annotations


class SubmissionError(ValueError):
    """A submission slaflow rejects; ``field`` says which part was wrong."""

    def __init__(self, message: str, field: str = "dag"):
        super().__init__(message)
        self.field = field
