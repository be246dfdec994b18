"""Command-line tools.

gRPC's core logs connection failures to standard error in its own format ("E1201 ... ssl_transport_security.cc ...
Handshake failed"); the CLI says what went wrong in words, so those lines are off unless GRPC_VERBOSITY asks for them.
The core reads the variable when grpc is first imported, which is why it is set here, before any command module.
"""

import os

os.environ.setdefault("GRPC_VERBOSITY", "NONE")
