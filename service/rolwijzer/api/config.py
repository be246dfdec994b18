"""What a server is configured with: transport security and the limits every request is held to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """Per-request and per-server limits. Exceeding one is answered with a status that names it.

    Attributes:
        max_request_bytes: the largest request message (RESOURCE_EXHAUSTED from gRPC beyond it).
        max_facts: the most facts in one request (INVALID_ARGUMENT).
        max_values: the most values in one set or one_of (INVALID_ARGUMENT).
        max_text: the longest fact name or symbol, in characters (INVALID_ARGUMENT).
        max_concurrent_rpcs: calls served at once; more are refused with RESOURCE_EXHAUSTED.
        default_deadline_seconds: the time an evaluation may take when the caller set no shorter deadline
            (DEADLINE_EXCEEDED beyond it).
        expensive_combinations: a request whose open facts span more combinations than this is expensive.
        expensive_concurrency: expensive evaluations at once; more are refused at once with RESOURCE_EXHAUSTED
            and a RetryInfo, so cheap calls and health checks keep their threads.
        max_streams: EvaluateBatch streams open at once, each with a thread of its own beside the request
            threads; more are refused with RESOURCE_EXHAUSTED.
        stream_idle_seconds: a stream that sends no item for this long ends with DEADLINE_EXCEEDED.
        max_batch_items: the most situations one EvaluateBatch message may carry (INVALID_ARGUMENT beyond it).
    """

    max_request_bytes: int = 64 * 1024
    max_facts: int = 64
    max_values: int = 64
    max_text: int = 200
    max_concurrent_rpcs: int = 256
    default_deadline_seconds: float = 10.0
    # About 0.1 s of evaluation on the 2-core machine (0.1 ms a combination): EX51's 360 stay cheap.
    expensive_combinations: int = 1_000
    expensive_concurrency: int = 1
    max_streams: int = 2
    stream_idle_seconds: float = 10.0
    # About 15 KB an answer with texts, 1.5 KB with DECISION_VIEW_CODES: 200 keep a reply under gRPC's default
    # 4 MiB receive limit of clients either way.
    max_batch_items: int = 200


@dataclass(frozen=True)
class Tls:
    """Server certificate and key (PEM); with `client_ca`, only clients with a certificate it signed get in."""

    certificate: bytes
    private_key: bytes
    client_ca: bytes | None = None

    @classmethod
    def from_files(cls, certificate: Path, private_key: Path, client_ca: Path | None) -> Tls:
        """Read the PEM files.

        Raises:
            OSError: a file cannot be read.
        """
        return cls(certificate.read_bytes(), private_key.read_bytes(), client_ca.read_bytes() if client_ca else None)
