"""A tiny local server that plays API Gateway and the Cognito token endpoint in front of the real
handlers on moto (tests of the reference client and of the canary, which uses it).

It issues tokens for MERCHANT_A's client id and SECRET, checks the bearer token, its scope and the
API key, turns each request into the proxy event API Gateway sends (the merchant's claims in
``requestContext.authorizer``, its API key id in ``requestContext.identity``) for the route's real
handler, and can lose an answer (a timeout, a dropped connection, a 502) after the handler ran, or
answer 503/429 before it runs (``faults``, one per API request)."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from payments_testkit import MERCHANT_A, api_event
from scripts.rehearsal.canary import answer_json

SECRET, API_KEY = "s3cret", "key-for-merchant-a"
# The client's timeout; short where a test makes the gateway hold an answer back (until the retry comes).
TIMEOUT, SHORT_TIMEOUT = 10.0, 2.0


class FakeGateway(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tokens: dict[str, str] = {}          # token -> space-separated scopes
        self.token_requests = 0
        self.faults: list[str] = []                # consumed one per API request
        self.seen: list[tuple[str, str | None]] = []  # (path, Idempotency-Key) per API request
        self.answers: list[tuple[str, int, dict, dict]] = []  # (path, status, headers, body) from handlers
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.request_arrived = threading.Condition()


class _Handler(BaseHTTPRequestHandler):
    server: FakeGateway

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, status: int, body: dict, headers: dict | None = None) -> None:
        answer_json(self, status, body, headers)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.split("?")[0] == "/oauth2/token":  # a second region's endpoint: ?region=
            return self._token(body)
        with self.server.request_arrived:
            self.server.seen.append((self.path, self.headers.get("Idempotency-Key")))
            number = len(self.server.seen)
            self.server.request_arrived.notify_all()
        fault = self.server.faults.pop(0) if self.server.faults else None
        if fault in ("503", "429"):
            return self._answer(int(fault), {"message": "Service Unavailable" if fault == "503" else "Too Many Requests"})
        if self.headers.get("x-api-key") != API_KEY:
            return self._answer(403, {"message": "Forbidden"})
        scopes = self.server.tokens.get(self.headers.get("Authorization", "").removeprefix("Bearer "))
        if scopes is None or f"payments{self.path}" not in scopes.split():
            return self._answer(401, {"message": "Unauthorized"})
        result = self._invoke(body.decode())
        if fault == "timeout":  # the handler ran; its answer comes after the client gave up and retried
            with self.server.request_arrived:
                self.server.request_arrived.wait_for(lambda: len(self.server.seen) > number, TIMEOUT)
        if fault == "drop":     # the handler ran; the connection closes without an answer
            self.close_connection = True
            return None
        if fault == "502":
            return self._answer(502, {"message": "Internal server error"})
        try:
            self._answer(result["statusCode"], json.loads(result["body"]), result["headers"])
        except (BrokenPipeError, ConnectionResetError):
            pass
        return None

    def _token(self, body: bytes) -> None:
        import base64
        self.server.token_requests += 1
        expected = "Basic " + base64.b64encode(f"{MERCHANT_A}:{SECRET}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self._answer(400, {"error": "invalid_client"})
        form = dict(pair.split("=", 1) for pair in body.decode().split("&"))
        assert form["grant_type"] == "client_credentials"
        token = str(uuid.uuid4())
        self.server.tokens[token] = form["scope"].replace("+", " ").replace("%2F", "/")
        return self._answer(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _invoke(self, body: str) -> dict:
        import fraud_check_handler
        import process_handler
        import validate_handler
        handler = {"/validate": validate_handler, "/fraud-check": fraud_check_handler,
                   "/process": process_handler}[self.path].handler
        headers = {name: value for name, value in self.headers.items()
                   if name.lower() not in ("authorization", "x-api-key")}
        result = handler(api_event(body, headers=headers, path=self.path, merchant=MERCHANT_A), None)
        self.server.answers.append((self.path, result["statusCode"], result["headers"], json.loads(result["body"])))
        return result

