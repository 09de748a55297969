"""The Python client sends its token to its server's origin only (issue 23, row 14): two real HTTP servers on
different loopback ports — the API, which redirects or links to the other, and an "attacker" that records
every request it gets."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.client import Client, RedirectRefused

pytestmark = [pytest.mark.integration]

TOKEN = "secret-token-123"


class Server:
    """A loopback HTTP server answering from ``routes`` (path with query → (status, headers, body)), recording
    (path, Authorization header) of every request."""

    def __init__(self):
        self.routes: dict[str, tuple[int, dict, object]] = {}
        self.seen: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.seen.append((self.path, self.headers.get("Authorization")))
                status, headers, body = outer.routes.get(self.path, (404, {}, {"detail": "no route"}))
                raw = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def api():
    with Server() as server:
        yield server


@pytest.fixture
def attacker():
    with Server() as server:
        yield server


def test_a_redirect_to_another_origin_is_refused_before_anything_is_sent_there(api, attacker):
    api.routes["/api/runs/7/"] = (302, {"Location": f"{attacker.url}/steal"}, {})
    with pytest.raises(RedirectRefused) as err:
        Client(api.url, TOKEN).get(7)
    assert err.value.location == f"{attacker.url}/steal" and "another origin" in str(err.value)
    assert api.seen == [("/api/runs/7/", f"Token {TOKEN}")]
    assert attacker.seen == []  # the token never reached the other port


def test_a_redirect_to_another_scheme_on_the_same_host_and_port_is_refused(api):
    port = api.url.rsplit(":", 1)[1]
    api.routes["/api/runs/8/"] = (301, {"Location": f"https://127.0.0.1:{port}/api/runs/8/"}, {})
    with pytest.raises(RedirectRefused):
        Client(api.url, TOKEN).get(8)
    assert api.seen == [("/api/runs/8/", f"Token {TOKEN}")]


def test_a_redirect_within_the_origin_is_followed_with_the_token(api):
    api.routes["/api/runs/9/"] = (302, {"Location": "/api/runs/9/moved/"}, {})
    api.routes["/api/runs/9/moved/"] = (200, {}, {"id": 9, "status": "running"})
    assert Client(api.url, TOKEN).get(9) == {"id": 9, "status": "running"}
    assert api.seen == [("/api/runs/9/", f"Token {TOKEN}"), ("/api/runs/9/moved/", f"Token {TOKEN}")]


def test_a_next_link_to_another_origin_is_followed_on_the_clients_own(api, attacker):
    api.routes["/api/runs/"] = (200, {}, {"results": [{"id": 1}], "next": f"{attacker.url}/api/runs/?page=2"})
    api.routes["/api/runs/?page=2"] = (200, {}, {"results": [{"id": 2}], "next": None})
    assert Client(api.url, TOKEN).runs() == [{"id": 1}, {"id": 2}]
    assert attacker.seen == []
    assert api.seen == [("/api/runs/", f"Token {TOKEN}"), ("/api/runs/?page=2", f"Token {TOKEN}")]


def test_an_absolute_url_elsewhere_is_refused(api, attacker):
    with pytest.raises(ValueError, match="sends its token to no other"):
        Client(api.url, TOKEN).request("GET", f"{attacker.url}/api/runs/")
    assert attacker.seen == []
