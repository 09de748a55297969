"""The per-host data server: outputs go from the host that made them straight to the host that reads them.

Each worker's main process runs one (``start``, from the ``worker_ready``
signal): a small threaded HTTP server on ``SLAFLOW_HOST_ADDRESS`` (loopback by
default; a host reachable from others gives its own address) and an
ephemeral port, serving this host's shared-memory files of its deployment
by run and file name — ``GET /<deployment>/<run>/<file>`` — and nothing else
(a name with a separator, ``..`` or another deployment is refused). It
announces itself in Redis (``store.locations``); pool processes forked from
it write its address into the location of every output they store, so a
reader on another host knows where to ask.

A reader on another host (``fetch``) streams the file into its own host's
shared memory under the same name, checking the checksum before the file
takes its name: the next reader on that host maps the cached copy. Only
loopback and the networks listed in ``SLAFLOW_DATA_NETWORKS`` (the ones our
own test harness creates) are ever contacted: an address outside them in a
location record is refused, not followed.

The same thread that keeps the announcement fresh sweeps the host's
directories of runs that are over or older than the run TTL; a second one
hears run ends on ``keys.store_channel`` and removes that run's files at once.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from store.shm import HostDir, OutputLost, StoreError, valid_name

log = logging.getLogger("slaflow.store")

_CHUNK = 4 << 20


class Refused(StoreError):
    """An address a reader will not contact (not loopback nor in the allowed networks)."""


def allowed(addr: str, networks: tuple[str, ...]) -> bool:
    """Whether ``addr`` ("ip:port") may be contacted: loopback, or inside one of ``networks`` (CIDRs)."""
    host, _, port = addr.rpartition(":")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        int(port)
    except ValueError:
        return False
    return ip.is_loopback or any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def fetch(
    addr: str,
    hdir: HostDir,
    run_id: int,
    name: str,
    size: int,
    digest: str,
    networks: tuple[str, ...],
    timeout_s: float = 60.0,
    connect_s: float = 3.0,
) -> None:
    """Copy file ``name`` of run ``run_id`` from the data server at ``addr`` into ``hdir`` (same name),
    checked against ``size`` and ``digest`` before it takes its name. ``OutputLost`` when the server
    answers that it does not have the file."""
    if not allowed(addr, networks):
        raise Refused(
            f"run {run_id}: will not fetch output {name} from {addr!r}: not loopback nor in "
            f"SLAFLOW_DATA_NETWORKS {list(networks)}"
        )
    host, _, port = addr.rpartition(":")
    conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=connect_s)
    try:
        conn.connect()  # a host that is gone fails here within connect_s; a slow transfer gets timeout_s
        conn.sock.settimeout(timeout_s)
        conn.request("GET", f"/{hdir.deployment}/{int(run_id)}/{name}")
        resp = conn.getresponse()
        if resp.status == 404:
            raise OutputLost(f"run {run_id}: data server {addr} no longer has output {name}", name=name)
        if resp.status != 200:
            raise StoreError(
                f"run {run_id}: data server {addr} answered {resp.status} for output {name}: "
                f"{resp.read(300).decode(errors='replace')}"
            )
        length = int(resp.getheader("Content-Length", "-1"))
        if length != size:
            raise StoreError(
                f"run {run_id}: data server {addr} offers {length} bytes of output {name}, {size} were written"
            )

        def chunks():
            buf = memoryview(bytearray(min(_CHUNK, size) or 1))  # one buffer, filled again and again
            left = size
            while left:
                got = resp.readinto(buf[: min(len(buf), left)])
                if not got:
                    raise StoreError(
                        f"run {run_id}: data server {addr} stopped after {size - left} of {size} bytes of output {name}"
                    )
                left -= got
                yield buf[:got]

        hdir.write_as(run_id, name, chunks(), expect=digest)
    finally:
        conn.close()


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's name)
        parts = self.path.split("/")
        hdir = self.server.hdir
        if (
            len(parts) != 4
            or parts[0]
            or parts[1] != hdir.deployment
            or not parts[2].isdigit()
            or not valid_name(parts[3])
        ):
            return self._refuse(400, "expected /<deployment>/<run>/<output file> of this deployment")
        try:
            f = open(hdir.path(int(parts[2]), parts[3]), "rb")
        except FileNotFoundError:
            return self._refuse(404, "no such output on this host")
        with f:
            size = f.seek(0, 2)
            f.seek(0)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.flush()
            if size:
                self.connection.sendfile(f)

    def _refuse(self, status: int, why: str) -> None:
        body = why.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):  # requests are not worth a log line each
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hdir: HostDir


class DataServer:
    """A data server of one host (``address``: "ip:port" it listens on) and its housekeeping threads."""

    def __init__(self, hdir: HostDir, bind: str = "127.0.0.1", port: int = 0):
        self.hdir = hdir
        self.httpd = _Server((bind, port), _Handler)
        self.httpd.hdir = hdir
        self.address = f"{bind}:{self.httpd.server_address[1]}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(
        self,
        *,
        every_s: float = 30.0,
        tick: Callable[[], None] | None = None,
        listen: Callable[[Callable[[int], object]], None] | None = None,
    ) -> "DataServer":
        """Serve in a daemon thread; ``tick`` (announce + sweep) runs now and every ``every_s``;
        ``listen(drop)`` (blocking) calls ``drop(run_id)`` for each run end it hears."""
        self._spawn(self.httpd.serve_forever, "slaflow-data")
        if tick is not None:

            def ticking():
                while not self._stop.is_set():
                    try:
                        tick()
                    except Exception:  # housekeeping must not stop serving
                        log.exception("data server housekeeping failed")
                    self._stop.wait(every_s)

            self._spawn(ticking, "slaflow-data-sweep")
        if listen is not None:
            self._spawn(lambda: listen(self.hdir.drop_run), "slaflow-data-drops")
        return self

    def _spawn(self, target: Callable[[], object], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
