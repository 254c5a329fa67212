"""The emulator's HTTPS server and the in-process :class:`Emulator` that runs it on a thread.

Standard library only: ``ThreadingHTTPServer`` (one thread per connection, so concurrent clients are
served at once) over ``ssl`` with a certificate from a throw-away test CA (trustme). HTTP/1.1 with
keep-alive, and TCP_NODELAY so small answers are not held back by Nagle's algorithm. The TLS
handshake happens on the connection's own thread, so a slow client never stalls ``accept``. It binds
to loopback only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import trustme

from executor.emulator.api import Api
from executor.emulator.faults import Faults, load_faults, parse_mode
from executor.emulator.health import health_token
from executor.emulator.log import RequestLog
from executor.emulator.messages import Request, Response
from executor.emulator.world import World, iso
from executor.run.clock import Clock, ScaledClock
from planner.errors import InputError
from planner.fleet import Fleet


class EmulatorCredential:
    """A dummy azure.core TokenCredential: the emulator accepts any bearer token.

    Duck-typed (``get_token`` and ``get_token_info``) so that only the Azure backend imports azure.*.
    """

    class _Token:
        def __init__(self, token: str, expires_on: int):
            self.token, self.expires_on = token, expires_on
            self.token_type, self.refresh_on = "Bearer", None

        def __iter__(self) -> Any:  # unpacks like azure.core's AccessToken named tuple
            return iter((self.token, self.expires_on))

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return self._Token("udroll-emulator", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        return self._Token("udroll-emulator", int(time.time()) + 3600)

    def close(self) -> None:
        pass


def loopback_address(host: str) -> str:
    """The loopback address to bind for ``host``; anything else is refused (no fleet on the network)."""
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise InputError(
            f"--host {host!r} is not an IP address: the emulator binds to loopback only "
            "(127.0.0.1, ::1 or localhost)"
        ) from None
    if not address.is_loopback:
        raise InputError(
            f"--host {host} is not a loopback address: the emulator binds to loopback only "
            "(127.0.0.1, ::1 or localhost), so nothing outside this machine can reach it"
        )
    return str(address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "udroll-emulator"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.request.do_handshake()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        query: dict[str, str] = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            query.setdefault(key.lower(), value)
        request = Request(self.command, unquote(split.path), self.path, query, self.headers, body)
        response = self.server.api.handle(request)
        if response.drop:
            self.close_connection = True
            return
        self._write(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _write(self, response: Response) -> None:
        lines = [
            f"HTTP/1.1 {response.status} {self.responses.get(response.status, ('',))[0]}",
            f"Date: {self.date_time_string()}",
            f"Server: {self.server_version}",
            f"Content-Length: {len(response.body)}",
        ]
        lines += [f"{name}: {value}" for name, value in response.headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)

    def log_message(self, format: str, *args: Any) -> None:  # the request log records what matters
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: Api, context: ssl.SSLContext):
        self.api = api
        self.context = context
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.connections_lock:
            self.connections.add(tls)
        return tls, address

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up or failing TLS is its business, not a server error


class _Server6(_Server):
    address_family = socket.AF_INET6


class Emulator:
    """The emulator in-process: ``with Emulator(fleet) as emu:`` serves it on a thread.

    ``faults`` is a :class:`Faults` or the path of a faults file, ``azure_mode`` a ``--azure-mode`` text
    (``lro=location,timestamps=ticks``) over its ``azure:`` block; ``epoch`` is the simulated time at
    start (default: the fleet's ``captured_at``); ``clock`` replaces the ScaledClock(epoch, speed) it
    would make (a FakeClock in tests). See the package docstring for the attributes.
    """

    def __init__(
        self,
        fleet: Fleet,
        speed: float = 600.0,
        epoch: dt.datetime | None = None,
        clock: Clock | None = None,
        faults: Faults | str | Path | None = None,
        log_path: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        azure_mode: str | None = None,
    ):
        self.host = loopback_address(host)
        self.port = port
        self.faults = faults if isinstance(faults, Faults) else load_faults(faults) if faults else Faults()
        if azure_mode:  # --azure-mode over the faults file's azure: block
            try:
                contract = parse_mode(azure_mode, self.faults.azure)
            except ValueError as exc:
                raise InputError(str(exc)) from None
            self.faults = self.faults.model_copy(update={"azure": contract})
        self.faults.check_refs(vm.ref for vm in fleet.vms)
        if clock is None:
            self.epoch = (epoch or fleet.captured_at).astimezone(dt.timezone.utc)
            clock = ScaledClock(self.epoch, speed)
        else:
            self.epoch = (epoch or clock.now()).astimezone(dt.timezone.utc)
        self.clock: Clock = clock
        self.speed = float(getattr(clock, "speed", speed))
        self.world = World(fleet, self.faults, self.epoch)
        self.subscription = self.world.subscription
        self.credential = EmulatorCredential()
        self._log = RequestLog(log_path)
        self._api = Api(self.world, self.faults, clock, self.speed, self._log)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._dir: str | None = None
        self.base_url = ""
        self.ca_bundle = ""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Emulator:
        self._dir = tempfile.mkdtemp(prefix="udroll-emulator-")
        ca = trustme.CA(organization_name="udroll emulator test CA")
        self.ca_bundle = os.path.join(self._dir, "ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        ca.issue_cert("127.0.0.1", "::1", "localhost").configure_cert(context)
        server_class = _Server6 if ":" in self.host else _Server
        try:
            self._server = server_class((self.host, self.port), self._api, context)
        except OSError as exc:
            self._cleanup()
            raise InputError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        port = self._server.server_address[1]
        self.port = port
        self.base_url = f"https://[{self.host}]:{port}" if ":" in self.host else f"https://{self.host}:{port}"
        self._api.base_url = self.base_url
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="udroll-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._log.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests and the runner read ----------------------------------------------------------

    def requests(self) -> list[dict[str, Any]]:
        """The request log so far (the JSON-lines fields, see executor.emulator.log)."""
        return self._log.entries()

    def state(self) -> dict[str, Any]:
        """Per-VM power, maintenance, operation and health state: what GET /_emulator/state answers."""
        with self.world.lock:
            return self.world.snapshot(self.clock.now())

    def health_url(self, vm: str) -> str:
        """The HTTPS URL of a VM's simulated application health endpoint (VM ARM id or ref)."""
        sim = self.world.find(vm)
        if sim is None:
            raise KeyError(f"no VM {vm!r} in the emulated fleet")
        return f"{self.base_url}/_health/{health_token(sim.id)}"

    def ready_info(self) -> dict[str, Any]:
        """What the ready file holds (``udroll run --emulator READY_FILE`` reads it)."""
        return {
            "base_url": self.base_url,
            "ca_bundle": self.ca_bundle,
            "subscription": self.subscription,
            "speed": self.speed,
            "epoch": iso(self.epoch),
        }

    def write_ready_file(self, path: str | Path) -> None:
        """Write the ready file atomically, so a watcher never reads half of it."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(json.dumps(self.ready_info(), indent=1) + "\n", encoding="utf-8")
        tmp.replace(target)
