"""A Lambda context for the handler tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeContext:
    """A Lambda context with ``remaining_ms`` left (a test may lower it as time passes)."""

    remaining_ms: int = 900_000
    aws_request_id: str = "req-123"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
