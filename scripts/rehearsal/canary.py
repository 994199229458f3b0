"""The rehearsal's synthetic merchant (issue 22): ``make canary-onboard`` against the applied stack,
then the canary's own handler, in process, paying through a local stand-in for what the endpoint
cannot serve.

moto has the user pool, its app clients, the API with its keys and usage plans, but it does not
serve the Cognito token endpoint and its API Gateway does not invoke functions (that needs Docker).
``RehearsalGateway`` plays both, and checks what they check against the endpoint's own records:

* ``POST /oauth2/token``: HTTP Basic with an app client id and secret that the user pool holds
  (``DescribeUserPoolClient``), the client-credentials grant, scopes the client is allowed;
* ``POST /<route>``: a token it issued that carries the route's scope, an ``x-api-key`` whose value
  is a key of a usage plan on the applied stage; then the route's real handler with the deployed
  function's environment, the token's claims and the key's id, as API Gateway's proxy event has them.

The canary's handler runs with the deployed canary function's environment, its ``API_URL`` and
``OAUTH_ENDPOINT`` pointed at the gateway instead of the stack's URLs (which only AWS serves).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, TypeVar

from scripts.rehearsal.smoke import FakeContext, SmokeContext, check, function_runtime, jsonable, load_handler

ROUTES = {"/validate": "validate", "/fraud-check": "fraud-check", "/process": "process"}
CANARY_FUNCTION = "canary/canary_handler.py"


def answer_json(request: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    """A JSON answer with its length (what API Gateway and the token endpoint send)."""
    raw = json.dumps(body).encode()
    request.send_response(status)
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        request.send_header(name, value)
    request.send_header("Content-Length", str(len(raw)))
    request.end_headers()
    request.wfile.write(raw)


class RehearsalGateway(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, ctx: SmokeContext):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ctx = ctx
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.tokens: dict[str, tuple[str, str]] = {}     # token -> (client id, scopes)
        self.calls: list[tuple[str, int]] = []            # (path, status) of every request
        self.lock = threading.Lock()                      # one handler at a time: they share os.environ


class _Handler(BaseHTTPRequestHandler):
    server: RehearsalGateway

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.server.calls.append((self.path, status))
        answer_json(self, status, body, headers)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if self.path == "/oauth2/token":
            return self._token(body)
        route = ROUTES.get(self.path)
        if route is None:
            return self._answer(404, {"message": "Not Found"})
        key_id = self._api_key_id(self.headers.get("x-api-key"))
        if key_id is None:
            return self._answer(403, {"message": "Forbidden"})
        client_id, scopes = self.server.tokens.get(self.headers.get("Authorization", "").removeprefix("Bearer "),
                                                   (None, ""))
        if client_id is None or f"payments/{route}" not in scopes.split():
            return self._answer(401, {"message": "Unauthorized"})
        event = _proxy_event(self.path, body, dict(self.headers), client_id, f"payments/{route}", key_id,
                             self.server.ctx)
        with self.server.lock, function_runtime(self.server.ctx, self.server.ctx.function_env(route)):
            result = load_handler(route)(event, FakeContext(f"payment-{route}-{self.server.ctx.environment}"))
        return self._answer(result["statusCode"], json.loads(result["body"]), result.get("headers"))

    def _token(self, body: str) -> None:
        """Cognito's client-credentials grant, checked against the app client the pool holds."""
        ctx = self.server.ctx
        try:
            client_id, secret = base64.b64decode(self.headers.get("Authorization", "").removeprefix("Basic ")) \
                .decode().split(":", 1)
            client = ctx.boto("cognito-idp").describe_user_pool_client(
                UserPoolId=ctx.outputs["user-pool-id"], ClientId=client_id)["UserPoolClient"]
        except Exception:  # noqa: BLE001  (malformed header or unknown client: Cognito's answer is the same)
            return self._answer(400, {"error": "invalid_client"})
        form = dict(urllib.parse.parse_qsl(body))
        requested = form.get("scope", "").split()
        if client.get("ClientSecret") != secret or "client_credentials" not in client.get("AllowedOAuthFlows", []):
            return self._answer(400, {"error": "invalid_client"})
        if form.get("grant_type") != "client_credentials" or not set(requested) <= set(client.get("AllowedOAuthScopes", [])):
            return self._answer(400, {"error": "invalid_scope"})
        token = uuid.uuid4().hex
        self.server.tokens[token] = (client_id, " ".join(requested))
        return self._answer(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def _api_key_id(self, value: str | None) -> str | None:
        """The id of the enabled key with this value that a usage plan of the applied stage holds."""
        if not value:
            return None
        apigw, outputs = self.server.ctx.boto("apigateway"), self.server.ctx.outputs
        keys = [k for k in apigw.get_api_keys(includeValues=True)["items"] if k.get("value") == value and k.get("enabled")]
        stage = {"apiId": outputs["api-id"], "stage": outputs["api-stage"]}
        for key in keys:
            for plan in apigw.get_usage_plans(keyId=key["id"])["items"]:
                if stage in plan.get("apiStages", []):
                    return key["id"]
        return None


def _proxy_event(path: str, body: str, headers: dict[str, str], client_id: str, scope: str, key_id: str,
                 ctx: SmokeContext) -> dict[str, Any]:
    """API Gateway's proxy event for a request its Cognito authorizer and key check let through."""
    now = time.time()
    stamp = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(now))
    claims = {"sub": client_id, "client_id": client_id, "token_use": "access", "scope": scope,
              "iss": f"https://cognito-idp.{ctx.region}.amazonaws.com/{ctx.outputs.get('user-pool-id', '')}",
              "auth_time": stamp, "iat": stamp, "exp": stamp, "jti": str(uuid.uuid4()), "version": "2"}
    forwarded = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "x-api-key")}
    return {"resource": path, "path": path, "httpMethod": "POST", "headers": forwarded,
            "multiValueHeaders": None, "queryStringParameters": None, "pathParameters": None,
            "requestContext": {"requestId": str(uuid.uuid4()), "stage": ctx.outputs.get("api-stage"),
                               "httpMethod": "POST", "resourcePath": path, "authorizer": {"claims": claims},
                               "identity": {"apiKeyId": key_id}},
            "body": body, "isBase64Encoded": False}


Server = TypeVar("Server", bound=ThreadingHTTPServer)


@contextlib.contextmanager
def serving(server: Server) -> Iterator[Server]:
    """``server`` answering on its own thread for the ``with`` block, then shut down and closed (the
    rehearsal's gateway; the tests' fake gateway, tests/lambdas/fake_gateway.py)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_canary(ctx: SmokeContext, gateway: RehearsalGateway) -> dict[str, Any]:
    """One canary run: the deployed canary function's environment, the URLs pointed at the gateway."""
    env = {**ctx.function_env("canary"), "API_URL": gateway.url, "OAUTH_ENDPOINT": gateway.url + "/oauth2/token"}
    out = io.StringIO()
    with function_runtime(ctx, env):
        import sys
        from scripts.rehearsal.smoke import LAMBDAS
        for path in (LAMBDAS / "canary", LAMBDAS.parent / "docs" / "api" / "client"):
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))
        import canary_handler
        canary_handler._client = None  # a cold start: the secret is read in this run
        summary = canary_handler.handler({}, FakeContext(f"payment-canary-{ctx.environment}"), out=out)
    summary["metrics"] = [json.loads(line) for line in out.getvalue().splitlines() if '"_aws"' in line]
    return jsonable(summary)


def canary_smoke(ctx: SmokeContext, onboarded: dict[str, Any]) -> None:
    """The applied canary (function, schedule on its alias, alarm), a passing run as the onboarded
    synthetic merchant whose payment the ledger marks, and a failing one when that merchant is
    suspended: what the alarm would see."""
    name = f"payment-canary-{ctx.environment}"
    config = ctx.boto("lambda").get_function_configuration(FunctionName=name)
    check(config["Environment"]["Variables"].get("CANARY_CREDENTIALS_NAME") == onboarded["secret_name"],
          f"{name} reads {config['Environment']['Variables'].get('CANARY_CREDENTIALS_NAME')}, "
          f"make canary-onboard wrote {onboarded['secret_name']}")
    events = ctx.boto("events")
    rule = events.describe_rule(Name=name)
    [target] = events.list_targets_by_rule(Rule=name)["Targets"]
    check(rule["ScheduleExpression"].startswith("rate(") and target["Arn"].endswith(f"{name}:live"),
          f"schedule {rule.get('ScheduleExpression')} -> {target['Arn']}")
    alarms = ctx.boto("cloudwatch").describe_alarms(AlarmNames=[f"payment-canary-alarm-{ctx.environment}"])
    check(len(alarms["MetricAlarms"]) == 1 and alarms["MetricAlarms"][0]["TreatMissingData"] == "breaching",
          f"canary alarm: {alarms['MetricAlarms']}")
    if ctx.outputs.get("migration-task-id"):
        # The new API's Route 53 health is the canary's verdict. moto's GetHealthCheck drops the alarm of
        # a CLOUDWATCH_METRIC check (see the aws_route53_health_check exclusions), so the applied
        # configuration is read: the health check's alarm reference must be the canary alarm resource.
        resources = ctx.stack_json.get("resource", {})
        alarm = {f"${{aws_cloudwatch_metric_alarm.{n}.alarm_name}}": a["alarm_name"]
                 for n, a in resources.get("aws_cloudwatch_metric_alarm", {}).items()}
        watched = [alarm.get(c.get("cloudwatch_alarm_name"), c.get("cloudwatch_alarm_name"))
                   for c in resources.get("aws_route53_health_check", {}).values() if c["type"] == "CLOUDWATCH_METRIC"]
        check(watched == [f"payment-canary-alarm-{ctx.environment}"], f"CLOUDWATCH_METRIC health checks watch {watched}")
        ctx.results.append(f"canary: the new API's Route 53 health check watches payment-canary-alarm-{ctx.environment}")
    with serving(RehearsalGateway(ctx)) as gateway:
        passed = run_canary(ctx, gateway)
        check(passed["ok"] is True, f"canary run failed: {passed}")
        check([c for c in gateway.calls if c[0] != "/oauth2/token"] == [
            ("/validate", 200), ("/fraud-check", 200), ("/process", 200), ("/process", 200)],
            f"canary calls: {gateway.calls}")
        table = ctx.function_env("process")["TRANSACTION_TABLE"]
        rows = ctx.boto("dynamodb").scan(TableName=table, ConsistentRead=True, FilterExpression="merchant_id = :m",
                                         ExpressionAttributeValues={":m": {"S": onboarded["client_id"]}})["Items"]
        check(len(rows) == 1 and rows[0].get("synthetic") == {"BOOL": True},
              f"the canary's ledger rows: {rows}")
        ctx.results.append(f"canary: {name} on its schedule ({rule['ScheduleExpression']}) passed every step as "
                           f"synthetic merchant {onboarded['client_id']}: token, validate, fraud-check, process, "
                           f"replay ({passed['duration_ms']:.0f} ms); its one ledger row is marked synthetic")
        registry = ctx.outputs["merchant-registry"]
        ddb = ctx.boto("dynamodb")
        ddb.update_item(TableName=registry, Key={"client_id": {"S": onboarded["client_id"]}},
                        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":s": {"S": "suspended"}})
        failed = run_canary(ctx, gateway)
        ddb.update_item(TableName=registry, Key={"client_id": {"S": onboarded["client_id"]}},
                        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":s": {"S": "active"}})
    verdict = [m.get("CanarySuccess") for m in failed["metrics"] if "CanarySuccess" in m]
    check(failed["ok"] is False and failed.get("failed_step") == "validate" and verdict == [0]
          and "MERCHANT_SUSPENDED" in failed.get("detail", ""), f"suspended canary merchant: {failed}")
    ctx.results.append("canary: with its merchant suspended the run fails at validate (403 MERCHANT_SUSPENDED), "
                       "CanarySuccess 0: what its alarm and the migration's health check read")
