"""The merchant API's OpenAPI document and generated pages: committed = generated, valid OpenAPI 3.1, every
error code the functions can return documented under its status, and the contract the synthesized API
Gateway enforces (request models, scopes, API key, required header) is the one the document states."""

from __future__ import annotations

import ast
import copy
import importlib.util
import json

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from scripts import openapi
from tests.support import PROJECT_ROOT

LAMBDAS = PROJECT_ROOT / "lambdas"
CORE = LAMBDAS / "shared" / "python" / "payments_core"
API_HANDLERS = {"validate": LAMBDAS / "validate" / "validate_handler.py",
                "fraud-check": LAMBDAS / "fraud_check" / "fraud_check_handler.py",
                "process": LAMBDAS / "process" / "process_handler.py"}


@pytest.fixture(scope="module")
def document() -> dict:
    return openapi.document()


@pytest.mark.parametrize("relative", sorted(openapi.GENERATED))
def test_committed_page_is_what_the_generator_renders(relative):
    committed = (PROJECT_ROOT / relative).read_text(encoding="utf-8")
    assert committed == openapi.GENERATED[relative](), f"{relative} is stale: run `python -m scripts.openapi`"


def test_render_is_sorted_json_with_a_trailing_newline():
    text = openapi.render()
    assert text.endswith("}\n") and text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_the_validator_rejects_a_broken_document(document):
    """Guards the test above: a validator that accepted anything would prove nothing."""
    broken = copy.deepcopy(document)
    del broken["components"]["securitySchemes"]["merchantToken"]["flows"]["clientCredentials"]["tokenUrl"]
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


# ----------------------------------------------------------------------------------- error codes

def _error_classes(trees: list[ast.Module]) -> dict[str, int]:
    """Every error class of the sources -> its HTTP status (its own ``status_code`` or its base's)."""
    classes = {n.name: n for tree in trees for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    status: dict[str, int] = {}

    def resolve(name: str | None) -> int | None:
        node = classes.get(name)
        if node is None or name in status:
            return status.get(name)
        own = next((item.value.value for item in node.body if isinstance(item, ast.Assign)
                    and [getattr(t, "id", None) for t in item.targets] == ["status_code"]), None)
        inherited = next((s for base in node.bases if (s := resolve(getattr(base, "id", None))) is not None), None)
        if own is not None or inherited is not None:
            status[name] = own if own is not None else inherited
        return status.get(name)

    for name in classes:
        resolve(name)
    return status


def _code(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isupper():
        return node.value
    return None


def _call_code(call: ast.Call) -> str | None:
    """The code a call passes: its first argument or ``code=``."""
    return (_code(call.args[0]) if call.args else None) or next(
        (k.value.value for k in call.keywords if k.arg == "code" and _code(k.value)), None)


def handler_error_codes() -> set[tuple[str, int]]:
    """(code, HTTP status) of every error the API functions and their shared package can answer with,
    read from their source: calls of any error class (``status_code=`` wins over the class's), codes an
    error class passes to ``super().__init__`` or takes as a ``code`` default, and ``error_body`` calls
    inside ``response(<status>, ...)``."""
    trees = [ast.parse(path.read_text()) for path in [*API_HANDLERS.values(), *sorted(CORE.glob("*.py"))]]
    status = _error_classes(trees)
    codes: set[tuple[str, int]] = set()
    for tree in trees:
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name in status):
            for node in ast.walk(cls):
                if isinstance(node, ast.FunctionDef):
                    named = node.args.args[len(node.args.args) - len(node.args.defaults):]
                    codes |= {(d.value, status[cls.name]) for a, d in zip(named, node.args.defaults)
                              if a.arg == "code" and _code(d)}
                elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "__init__" and _call_code(node):
                    codes.add((_call_code(node), status[cls.name]))
        for node in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in status and _call_code(node):
                explicit = next((k.value.value for k in node.keywords if k.arg == "status_code"), None)
                codes.add((_call_code(node), explicit or status[name]))
            elif name == "response" and node.args and isinstance(node.args[0], ast.Constant):
                codes |= {(inner.args[0].value, node.args[0].value) for inner in ast.walk(node)
                          if isinstance(inner, ast.Call) and getattr(inner.func, "id", None) == "error_body"
                          and _code(inner.args[0])}
    return codes


def documented_codes(document: dict) -> set[tuple[str, int]]:
    """(code, status) of every function error code the document lists in a response."""
    found = set()
    for item in document["paths"].values():
        for status, response in item["post"]["responses"].items():
            schema = response["content"]["application/json"]["schema"]
            for shape in schema.get("anyOf", [schema]):
                for part in shape.get("allOf", [])[1:]:
                    for code in part["properties"].get("error", {}).get("properties", {}).get("code", {}).get("enum", []):
                        found.add((code, int(status)))
    return found


def test_the_scan_finds_the_errors_of_every_kind():
    """Guards the scan: one code of each way the functions raise one."""
    codes = handler_error_codes()
    assert {("CARD_NUMBER_CHECKSUM_FAILED", 400), ("INVALID_REQUEST", 400), ("CONCURRENT_PAYMENTS", 409),
            ("IDEMPOTENCY_KEY_REUSED", 422), ("MERCHANT_UNAUTHENTICATED", 403), ("INSUFFICIENT_SCOPE", 403),
            ("INTERNAL_ERROR", 500)} <= codes
    assert len(codes) >= 25


def test_every_error_code_the_functions_return_is_documented_under_its_status(document):
    missing = handler_error_codes() - documented_codes(document)
    assert not missing, f"add to scripts/api_errors.py: {sorted(missing)}"


def test_the_document_lists_no_code_the_functions_cannot_return(document):
    assert documented_codes(document) <= handler_error_codes()


def test_idempotency_errors_are_listed_on_process_only(document):
    for path, item in document["paths"].items():
        text = json.dumps(item["post"]["responses"])
        for code in ("IDEMPOTENCY_KEY_REUSED", "CONCURRENT_PAYMENTS", "INVALID_IDEMPOTENCY_KEY"):
            assert (code in text) == (path == "/process"), (path, code)


@pytest.mark.parametrize("path", ["/validate", "/fraud-check", "/process"])
def test_every_route_documents_gateway_and_function_failures(document, path):
    responses = document["paths"][path]["post"]["responses"]
    assert {"200", "400", "401", "403", "429", "500", "502", "504"} <= set(responses)
    assert ({"409", "422"} <= set(responses)) == (path == "/process")


# ------------------------------------------------------------------- contract enforced by the stack

def _method(stack, path: str) -> dict:
    return stack.one("aws_api_gateway_method", resource_id=stack.ref("aws_api_gateway_resource", "id", path_part=path))


@pytest.mark.parametrize("path", ["validate", "fraud-check", "process"])
def test_request_schema_is_the_api_gateway_model_of_the_route(stack, document, path):
    models = {m["name"]: m for m in stack.resources("aws_api_gateway_model").values()}
    model_ref = _method(stack, path)["request_models"]["application/json"]
    model = next(m for name, m in models.items() if model_ref == stack.ref("aws_api_gateway_model", "name", name=name))
    body = document["paths"][f"/{path}"]["post"]["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    assert ref == f"#/components/schemas/{model['name']}"
    assert document["components"]["schemas"][model["name"]] == json.loads(model["schema"])


def _handler_scope(path: str) -> str:
    openapi.layer_module("apigw")  # puts the layer on sys.path for the handler's imports
    spec = importlib.util.spec_from_file_location(f"handler_{path}", API_HANDLERS[path])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SCOPE


@pytest.mark.parametrize("path", ["validate", "fraud-check", "process"])
def test_each_route_requires_exactly_its_scope_and_the_api_key(stack, document, path):
    method = _method(stack, path)
    assert method["api_key_required"] is True
    assert document["paths"][f"/{path}"]["post"]["security"] == [
        {"merchantToken": method["authorization_scopes"], "apiKey": []}]
    assert method["authorization_scopes"] == [_handler_scope(path)]
    flow = document["components"]["securitySchemes"]["merchantToken"]["flows"]["clientCredentials"]
    assert _handler_scope(path) in flow["scopes"]
    assert flow["tokenUrl"].endswith(".amazoncognito.com/oauth2/token")
    key = document["components"]["securitySchemes"]["apiKey"]
    assert (key["in"], key["name"]) == ("header", "x-api-key")


@pytest.mark.parametrize("path", ["validate", "fraud-check", "process"])
def test_idempotency_key_header_is_required_where_api_gateway_requires_it(stack, document, path):
    required = {name.rsplit(".", 1)[1] for name, on in (_method(stack, path).get("request_parameters") or {}).items()
                if name.startswith("method.request.header.") and on}
    parameters = document["paths"][f"/{path}"]["post"].get("parameters", [])
    resolved = [document["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] for p in parameters]
    assert {p["name"] for p in resolved if p["in"] == "header" and p["required"]} == required


def test_idempotency_key_pattern_is_the_functions_rule(document):
    import re
    pattern = re.compile(document["components"]["parameters"]["Idempotency-Key"]["schema"]["pattern"])
    validation = openapi.layer_module("validation")
    for key in ("k", "a" * 128, "7f3c2a9e-2b1d-4c55-9d0e-2a61f1c0b7aa", "a_b"):
        assert pattern.search(key) and validation.validate_idempotency_key(key) == key
    for key in ("a" * 129, "has space", "é", "a.b"):
        assert not pattern.search(key)
        with pytest.raises(validation.ValidationError):
            validation.validate_idempotency_key(key)
