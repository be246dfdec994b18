"""The HTTP port: one WSGI application (Connect and gRPC-Web for RolwijzerService, CORS, the web pages) and the
threaded WSGI server (cheroot) that serves it, in plaintext or TLS (mutual TLS with a client CA, as the gRPC port).

Contracts:

* `/rolwijzer.v1.RolwijzerService/<Method>`: the Connect application (rolwijzer.api.connect).
* `GET /` is `index.html`, `GET /regels` is `regels.html`, `GET /static/<path>` a file under `static/`, all from
  the web folder; nothing outside it is ever served (no `..`, no symbolic link out); anything else is 404.
* CORS: only the origins given are allowed; a preflight from another origin gets 403 and no CORS headers.
"""

from __future__ import annotations

import mimetypes
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cheroot import wsgi
from cheroot.ssl import Adapter
from cheroot.ssl.builtin import BuiltinSSLAdapter

from rolwijzer.api.config import Tls
from rolwijzer.api.connect import SERVICE_NAME
from rolwijzer.waiting import wait_until

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "ALLOWED_HEADERS",
    "EXPOSED_HEADERS",
    "WEB_FOLDER",
    "HttpServer",
    "cors",
    "create_http_server",
    "http_application",
    "static_files",
]

WEB_FOLDER = Path(__file__).resolve().parents[1] / "web"
# What a browser's Connect or gRPC-Web client sends and must read (connect-web, grpc-web).
ALLOWED_HEADERS = (
    "Connect-Protocol-Version",
    "Connect-Timeout-Ms",
    "Grpc-Timeout",
    "X-Grpc-Web",
    "X-User-Agent",
    "Content-Type",
)
EXPOSED_HEADERS = ("Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin")
PREFLIGHT_MAX_AGE_SECONDS = 7200
# Pages change with a release: revalidate them. Their assets are few and small: an hour.
PAGE_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=3600"
_PAGES = {"/": "index.html", "/regels": "regels.html"}
# The HTTP port's threads: each serves one connection's request at a time; evaluations are gated by `active`.
HTTP_THREADS = 8


def _plain(start_response: StartResponse, status: str, text: str, extra: Sequence[tuple[str, str]] = ()) -> list[bytes]:
    body = text.encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *extra]
    start_response(status, headers)
    return [body]


def static_files(folder: Path) -> WSGIApplication:
    """Serve the web pages and `static/` of `folder` (see the module's contracts)."""
    root = folder.resolve()
    assets = root / "static"

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path in _PAGES:
            target, cache = root / _PAGES[path], PAGE_CACHE
        elif path.startswith("/static/"):
            target, cache = (assets / path.removeprefix("/static/")).resolve(), ASSET_CACHE
            if not target.is_relative_to(assets.resolve()):  # `..` or a link that leads out: as if absent
                return _plain(start_response, "404 Not Found", "not found")
        else:
            return _plain(start_response, "404 Not Found", "not found")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", "GET only", [("Allow", "GET, HEAD")])
        if "\0" in path or not target.is_file():
            return _plain(start_response, "404 Not Found", "not found")
        body = target.read_bytes()
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
            kind += "; charset=utf-8"
        start_response(
            "200 OK",
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(body))),
                ("Cache-Control", cache),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    return app


def cors(app: WSGIApplication, origins: Sequence[str]) -> WSGIApplication:
    """Let browsers on `origins` call `app` (none: no CORS headers at all, same-origin pages only)."""
    allowed = frozenset(o.rstrip("/") for o in origins)

    def middleware(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        origin = environ.get("HTTP_ORIGIN")
        preflight = environ.get("REQUEST_METHOD") == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        if origin is None or origin not in allowed:
            if preflight:
                return _plain(start_response, "403 Forbidden", f"origin {origin} is not allowed")
            return app(environ, start_response)
        common = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
        if preflight:
            start_response(
                "204 No Content",
                [
                    *common,
                    ("Access-Control-Allow-Methods", "GET, POST"),
                    ("Access-Control-Allow-Headers", ", ".join(ALLOWED_HEADERS)),
                    ("Access-Control-Expose-Headers", ", ".join(EXPOSED_HEADERS)),
                    ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE_SECONDS)),
                ],
            )
            return []

        def with_cors(
            status: str,
            headers: list[tuple[str, str]],
            exc_info: Any = None,  # noqa: ANN401 - WSGI's exc_info, passed on as is
        ) -> Callable[[bytes], object]:
            return start_response(
                status, [*headers, *common, ("Access-Control-Expose-Headers", ", ".join(EXPOSED_HEADERS))], exc_info
            )

        return app(environ, with_cors)

    return middleware


def http_application(
    connect: WSGIApplication, *, web_folder: Path = WEB_FOLDER, cors_origins: Sequence[str] = ()
) -> WSGIApplication:
    """The HTTP port's application: `connect` for the service's paths, the web folder's pages for the rest."""
    prefix = f"/{SERVICE_NAME}/"
    pages = static_files(web_folder)

    def route(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") or "").startswith(prefix):
            return connect(environ, start_response)
        return pages(environ, start_response)

    return cors(route, cors_origins)


class _ContextAdapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter with a ready ssl.SSLContext (its own wants file names and builds its own)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        Adapter.__init__(self, "", "")
        self.context = context
        self._server_env: dict[str, str] = {}


def tls_context(tls: Tls) -> ssl.SSLContext:
    """A server context from the PEMs (TLS 1.2 at least); with `tls.client_ca`, a client certificate it signed is
    required (mutual TLS), as on the gRPC port.

    Raises:
        ssl.SSLError: the PEMs are no usable key pair or CA.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ssl reads a key pair from files only: a private folder for the moment it takes.
    with tempfile.TemporaryDirectory(prefix="rolwijzer-tls-") as folder:
        certificate, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        certificate.write_bytes(tls.certificate)
        key.touch(mode=0o600)
        key.write_bytes(tls.private_key)
        context.load_cert_chain(certificate, key)
    if tls.client_ca is not None:
        context.load_verify_locations(cadata=tls.client_ca.decode("ascii"))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class HttpServer:
    """A cheroot server, bound (its request threads running), served by a thread of its own once started; stop it
    even when it was never started, or its request threads keep the process alive."""

    def __init__(self, server: wsgi.Server) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve, name="http-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, grace: float) -> None:
        """Refuse new connections; let requests in flight finish within `grace` seconds."""
        self._server.shutdown_timeout = grace
        self._server.stop()
        if self._thread.ident is not None:  # an unstarted server (the command failed after binding) has no thread
            wait_until(lambda: not self._thread.is_alive(), grace + 1)  # a timed join never ends under a faked clock


def create_http_server(
    address: str, app: WSGIApplication, tls: Tls | None = None, *, share_port: bool = False
) -> tuple[HttpServer, int]:
    """Bind `app` on `address` (host:port; port 0 for a free one) with cheroot; return the unstarted server and
    the bound port. With `tls` the port speaks TLS only; `share_port` lets other processes bind it too
    (SO_REUSEPORT, as --workers does).

    Raises:
        OSError: the address cannot be bound.
    """
    host, _, port = address.rpartition(":")
    server = wsgi.Server(
        (host.strip("[]"), int(port)),
        app,
        numthreads=HTTP_THREADS,
        server_name="rolwijzer",
        reuse_port=share_port,
    )
    if tls is not None:
        server.ssl_adapter = _ContextAdapter(tls_context(tls))
    server.prepare()  # binds now, so the port is known and a taken one fails here
    bound = server.bind_addr[1]
    return HttpServer(server), int(bound)
