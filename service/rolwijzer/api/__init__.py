"""The gRPC API: the servicer (proto <-> domain only), rich errors, and the server wiring."""

from rolwijzer.api.server import SERVICE_NAME, create_server, main

__all__ = ["SERVICE_NAME", "create_server", "main"]
