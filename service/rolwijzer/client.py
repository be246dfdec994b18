"""A Python client helper: many situations decided through EvaluateBatch, many per message, answers in order.

    with grpc.insecure_channel("127.0.0.1:50051") as channel:
        stub = RolwijzerServiceStub(channel)
        for item_id, answer in evaluate_many(stub, ((s.id, s.request) for s in situations)):
            ...  # answer is a Decision, or the google.rpc.Status of a refused situation

Sending many situations per message spreads gRPC's fixed cost per message over all of them; the server answers
each message with one message of results, in the order of its items.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from google.rpc import status_pb2

from rolwijzer.v1 import rolwijzer_pb2 as pb
from rolwijzer.v1 import rolwijzer_pb2_grpc as pb_grpc

__all__ = ["DEFAULT_PER_MESSAGE", "BatchRefused", "evaluate_many"]

# The server takes at most --max-batch-items (200 by default) situations a message.
DEFAULT_PER_MESSAGE = 100


class BatchRefused(RuntimeError):
    """The server refused a whole message (too many items, or a malformed one); `status` says why."""

    def __init__(self, status: status_pb2.Status) -> None:
        self.status = status
        super().__init__(status.message)


def evaluate_many(
    stub: pb_grpc.RolwijzerServiceStub,
    situations: Iterable[tuple[str, pb.EvaluateRequest]],
    per_message: int = DEFAULT_PER_MESSAGE,
    timeout: float | None = None,
) -> Iterator[tuple[str, pb.Decision | status_pb2.Status]]:
    """Decide every (item id, request) on one EvaluateBatch stream; yield (item id, Decision or Status) in order.

    Raises:
        BatchRefused: the server refused a whole message.
        grpc.RpcError: the stream itself failed (the server's limits on streams, a lost connection).
    """
    if per_message < 1:
        raise ValueError("per_message must be at least 1")

    def messages() -> Iterator[pb.EvaluateBatchRequest]:
        chunk: list[pb.BatchItem] = []
        for item_id, request in situations:
            chunk.append(pb.BatchItem(item_id=item_id, request=request))
            if len(chunk) == per_message:
                yield pb.EvaluateBatchRequest(items=chunk)
                chunk = []
        if chunk:
            yield pb.EvaluateBatchRequest(items=chunk)

    for response in stub.EvaluateBatch(messages(), timeout=timeout):
        if response.HasField("status"):
            raise BatchRefused(response.status)
        for result in response.results:
            yield result.item_id, result.decision if result.HasField("decision") else result.status
