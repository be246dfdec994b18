"""What gRPC tools ask a server about itself: health (Check, Watch and List) and server reflection (v1 and v1alpha).

grpcio-health-checking answers Check and Watch but leaves List unimplemented, although the service advertises it;
grpcio-reflection serves only v1alpha, while current grpcurl and buf ask v1 first. v1 and v1alpha carry the same
messages under two package names (field for field, so the same bytes), so the v1alpha servicer answers both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import grpc
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

__all__ = ["REFLECTION_V1", "Health", "add_reflection"]

REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


class Health(health.HealthServicer):
    """The standard health servicer, with List: every service whose status was set, with that status.

    After `enter_graceful_shutdown` every status reads NOT_SERVING, as Check answers then.
    """

    def __init__(self) -> None:
        super().__init__()
        self._names: set[str] = {""}
        self._names_lock = threading.Lock()

    def set(self, service: str, status: int) -> None:
        """Set `service`'s status (see grpc_health), and remember the name for List."""
        with self._names_lock:
            self._names.add(service)
        super().set(service, status)

    def List(self, request: object, context: grpc.ServicerContext) -> health_pb2.HealthListResponse:  # noqa: N802
        """Every known service with its status, as Check would answer it now."""
        with self._names_lock:
            names = sorted(self._names)
        return health_pb2.HealthListResponse(
            statuses={name: self.Check(health_pb2.HealthCheckRequest(service=name), context) for name in names}
        )


def add_reflection(server: grpc.Server, services: Iterable[str]) -> None:
    """Serve reflection for `services` (and reflection itself) over both v1alpha and v1.

    Only v1alpha is listed among the services: the v1 service has no descriptor in this process (grpcio ships none),
    and a listed service a client cannot look up breaks its listing; clients ask for v1 by name anyway.
    """
    names = (*services, reflection.SERVICE_NAME)
    servicer = reflection.ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.method_handlers_generic_handler(
        REFLECTION_V1,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((v1,))
