"""A lint that keeps the contracts closed as they grow: closed schemas, complete error
documentation, one error shape, and references that resolve.

`problems(spec)` returns what is wrong with a parsed contract; the tests run it over
contract/openapi.yaml and contract/internal.yaml (when present), and over broken copies
to show it notices.
"""

import copy
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from plumbing.errors import STATUS_BY_CODE

CONTRACT_DIR = Path(__file__).resolve().parents[2] / "contract"
CONTRACTS = ["openapi.yaml", "internal.yaml"]

METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
ERROR_REF = "#/components/schemas/Error"
PROBES = frozenset({"/healthz", "/readyz"})
# A probe that is not ready answers 503 with its Health body (status "unavailable"),
# which is what orchestrators and `archlab` read; every other error is an Error.
PROBE_UNAVAILABLE_REF = "#/components/schemas/Health"
# Statuses that never carry a body.
BODILESS = frozenset({"204", "304"})
BODY_ERRORS = ("400", "413", "415", "422")

_PATH_TEMPLATE = re.compile(r"\{([^}/]+)\}")
_SUCCESS = re.compile(r"2(\d\d|XX)")

# Keywords whose value is one sub-schema, a map of them, or a list of them.
_SUBSCHEMA = ("items", "additionalProperties", "unevaluatedProperties", "not", "contains",
              "propertyNames", "if", "then", "else")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas", "$defs")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def problems(spec: dict, error_codes=frozenset(STATUS_BY_CODE)) -> list[str]:
    """Everything that keeps `spec` from being a closed, fully documented contract."""
    return [*_ref_problems(spec), *_schema_problems(spec), *_operation_problems(spec),
            *_error_code_problems(spec, set(error_codes))]


# --- references -------------------------------------------------------------------------

def _pointer(spec: dict, ref: str):
    """The node a local `#/...` reference points at; KeyError if there is none."""
    if not ref.startswith("#/"):
        raise KeyError(ref)
    node = spec
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(ref)
    return node


def _deref(spec: dict, node):
    """Follow `$ref`s to the node they name; {} for a dangling one (reported elsewhere)."""
    seen = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if ref in seen:
            return {}
        seen.add(ref)
        try:
            node = _pointer(spec, ref)
        except KeyError:
            return {}
    return node if isinstance(node, dict) else {}


def _walk(node, where: str) -> Iterator[tuple[str, dict]]:
    """Every mapping in the document, with where it sits."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}[{i}]")


def _ref_problems(spec: dict) -> Iterator[str]:
    for where, node in _walk(spec, ""):
        ref = node.get("$ref")
        if not isinstance(ref, str):
            continue
        try:
            _pointer(spec, ref)
        except KeyError:
            yield f"{where}: $ref {ref!r} does not resolve"


# --- schemas ----------------------------------------------------------------------------

def _schema_roots(spec: dict) -> Iterator[tuple[str, dict]]:
    """Named component schemas, then every inline `schema:` anywhere else."""
    components = spec.get("components") or {}
    for name, schema in (components.get("schemas") or {}).items():
        yield f"components.schemas.{name}", schema
    rest = {key: value for key, value in spec.items() if key != "components"}
    rest["components"] = {k: v for k, v in components.items() if k != "schemas"}
    yield from _inline_schemas(rest, "")


def _inline_schemas(node, where: str) -> Iterator[tuple[str, dict]]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}" if where else str(key)
            if key == "schema" and isinstance(value, dict):
                yield here, value
            elif key not in ("example", "examples"):
                yield from _inline_schemas(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _inline_schemas(value, f"{where}[{i}]")


def _subschemas(where: str, schema) -> Iterator[tuple[str, dict]]:
    """A schema and every schema nested in it (without following $refs)."""
    if not isinstance(schema, dict):
        return
    yield where, schema
    for key in _SUBSCHEMA:
        yield from _subschemas(f"{where}.{key}", schema.get(key))
    for key in _SUBSCHEMA_MAPS:
        for name, sub in (schema.get(key) or {}).items():
            yield from _subschemas(f"{where}.{key}.{name}", sub)
    for key in _SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key) or []):
            yield from _subschemas(f"{where}.{key}[{i}]", sub)


def _is_object(schema: dict) -> bool:
    kind = schema.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or (
        "properties" in schema)


def _schema_problems(spec: dict) -> Iterator[str]:
    for root_where, root in _schema_roots(spec):
        for where, schema in _subschemas(root_where, root):
            if not _is_object(schema):
                continue
            if schema.get("additionalProperties") is not False:
                yield f"{where}: object schema without additionalProperties: false"
            required = schema.get("required")
            if not isinstance(required, list):
                yield f"{where}: object schema without a required list"
                continue
            unknown = sorted(set(required) - set(schema.get("properties") or {}))
            if unknown:
                yield f"{where}: required names missing properties {unknown}"
            if len(set(required)) != len(required):
                yield f"{where}: required lists a property twice"


# --- operations -------------------------------------------------------------------------

def _operations(spec: dict) -> Iterator[tuple[str, str, dict, list[dict]]]:
    """(path, method, operation, its parameters with the path item's) for every operation."""
    for path, item in (spec.get("paths") or {}).items():
        item = _deref(spec, item)
        shared = [_deref(spec, p) for p in item.get("parameters") or []]
        for method in METHODS:
            if method in item:
                op = item[method]
                own = [_deref(spec, p) for p in op.get("parameters") or []]
                yield path, method, op, shared + own


def _operation_problems(spec: dict) -> Iterator[str]:
    declared_tags = {t.get("name") for t in spec.get("tags") or []}
    schemes = set((spec.get("components") or {}).get("securitySchemes") or {})
    ids = Counter()
    for path, method, op, params in _operations(spec):
        where = f"{method.upper()} {path}"
        op_id = op.get("operationId")
        if not op_id:
            yield f"{where}: no operationId"
        ids[op_id] += 1
        if not op.get("summary"):
            yield f"{where}: no summary"
        tags = op.get("tags")
        if not tags:
            yield f"{where}: no tags"
        for tag in sorted(set(tags or []) - declared_tags):
            yield f"{where}: tag {tag!r} is not declared in the top-level tags"

        templated = set(_PATH_TEMPLATE.findall(path))
        in_path = {p.get("name") for p in params if p.get("in") == "path"}
        if templated != in_path:
            yield f"{where}: path template names {sorted(templated)} but path parameters " \
                  f"are {sorted(in_path)}"

        responses = {str(k): v for k, v in (op.get("responses") or {}).items()}
        yield from _response_problems(spec, where, path, responses)

        needed = {"405"}
        if path not in PROBES:
            needed.add("503")
        if "requestBody" in op:
            needed.update(BODY_ERRORS)
        if any(p.get("in") == "query" for p in params):
            needed.add("422")
        if in_path:
            needed.add("404")
        security = op.get("security", spec.get("security")) or []
        if security:
            needed.add("401")
        for requirement in security:
            for scheme in sorted(set(requirement) - schemes):
                yield f"{where}: security scheme {scheme!r} is not declared"
        for status in sorted(needed - set(responses)):
            yield f"{where}: does not document {status} ({_why(status)})"
    for op_id, count in sorted(ids.items(), key=lambda kv: str(kv[0])):
        if op_id and count > 1:
            yield f"operationId {op_id!r} is used by {count} operations"


def _why(status: str) -> str:
    return {
        "400": "it takes a body", "413": "it takes a body", "415": "it takes a body",
        "422": "it takes a body or query parameters", "404": "it has a path parameter",
        "401": "it is secured", "405": "every operation", "503": "every non-probe operation",
    }[status]


def _response_problems(spec: dict, where: str, path: str,
                       responses: dict) -> Iterator[str]:
    if not any(_SUCCESS.fullmatch(status) for status in responses):
        yield f"{where}: no 2xx response"
    for status, raw in responses.items():
        here = f"{where} {status}"
        response = _deref(spec, raw)
        if "content" not in response:
            if status not in BODILESS:
                yield f"{here}: no content (only {sorted(BODILESS)} may have no body)"
            continue
        media = (response.get("content") or {}).get("application/json")
        if not isinstance(media, dict) or not isinstance(media.get("schema"), dict):
            yield f"{here}: no application/json content with a schema"
            continue
        if status[0] in "45":
            allowed = {ERROR_REF}
            if path in PROBES and status == "503":
                allowed.add(PROBE_UNAVAILABLE_REF)
            if media["schema"].get("$ref") not in allowed:
                yield f"{here}: error response schema is not {ERROR_REF}"


# --- error codes ------------------------------------------------------------------------

def _error_code_problems(spec: dict, error_codes: set[str]) -> Iterator[str]:
    schemas = (spec.get("components") or {}).get("schemas") or {}
    if "Error" not in schemas:
        yield "components.schemas.Error is missing"
    enum = (schemas.get("ErrorCode") or {}).get("enum")
    if not isinstance(enum, list):
        yield "components.schemas.ErrorCode has no enum"
        return
    if len(set(enum)) != len(enum):
        yield "components.schemas.ErrorCode lists a code twice"
    if missing := sorted(error_codes - set(enum)):
        yield f"components.schemas.ErrorCode lacks {missing} (in plumbing.errors.STATUS_BY_CODE)"
    if extra := sorted(set(enum) - error_codes):
        yield f"components.schemas.ErrorCode has {extra} (not in plumbing.errors.STATUS_BY_CODE)"


# --- tests ------------------------------------------------------------------------------

def load(name: str) -> dict:
    """A contract file, parsed; skips the test when the file does not exist yet."""
    path = CONTRACT_DIR / name
    if not path.exists():
        pytest.skip(f"contract/{name} does not exist yet")
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def public() -> dict:
    return load("openapi.yaml")


@pytest.mark.parametrize("name", CONTRACTS)
def test_contract_is_closed_and_complete(name):
    found = problems(load(name))
    assert not found, "\n".join(found)


def test_lint_fails_on_a_broken_copy(public):
    broken = copy.deepcopy(public)
    del broken["components"]["schemas"]["Card"]["additionalProperties"]
    del broken["paths"]["/api/products"]["get"]["responses"]["422"]

    found = problems(broken)

    assert found == [
        "components.schemas.Card: object schema without additionalProperties: false",
        "GET /api/products: does not document 422 (it takes a body or query parameters)",
    ]


def _ops(spec):
    return spec["paths"]


def _schemas(spec):
    return spec["components"]["schemas"]


def _break_nested_schema(spec):
    del _schemas(spec)["AuditFigures"]["properties"]["orders"]["additionalProperties"]


def _break_required(spec):
    _schemas(spec)["Customer"]["required"].append("phone")


def _drop_required(spec):
    del _schemas(spec)["Stock"]["required"]


def _open_inline_schema(spec):
    _ops(spec)["/healthz"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"] = {"type": "object", "required": [], "properties": {"x": {
            "type": "array", "items": {"type": "object", "required": [],
                                       "additionalProperties": True}}}}


def _drop(path, method, status):
    def drop(spec):
        del _ops(spec)[path][method]["responses"][status]
    return drop


def _set(path, method, key, value):
    def assign(spec):
        _ops(spec)[path][method][key] = value
    return assign


def _error_as_health(spec):
    _ops(spec)["/api/categories"]["get"]["responses"]["503"] = {
        "description": "down", "content": {"application/json": {
            "schema": {"$ref": PROBE_UNAVAILABLE_REF}}}}


def _bodiless_200(spec):
    _ops(spec)["/api/categories"]["get"]["responses"]["200"] = {"description": "ok"}


def _dangling_ref(spec):
    _ops(spec)["/api/orders/{order_id}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"] = {"$ref": "#/components/schemas/Nope"}


def _extra_error_code(spec):
    _schemas(spec)["ErrorCode"]["enum"].append("teapot")


def _missing_error_code(spec):
    _schemas(spec)["ErrorCode"]["enum"].remove("in_progress")


def _undeclared_path_param(spec):
    item = _ops(spec).pop("/api/orders/{order_id}")
    _ops(spec)["/api/orders/{order_id}/{line}"] = item


BREAKAGES = {
    "nested-open-object": (
        _break_nested_schema,
        "components.schemas.AuditFigures.properties.orders: object schema without "
        "additionalProperties: false"),
    "required-names-missing-property": (
        _break_required, "components.schemas.Customer: required names missing properties "
                         "['phone']"),
    "no-required-list": (
        _drop_required, "components.schemas.Stock: object schema without a required list"),
    "inline-open-object": (
        _open_inline_schema,
        "paths./healthz.get.responses.200.content.application/json.schema.properties.x.items: "
        "object schema without additionalProperties: false"),
    "body-without-413": (
        _drop("/api/orders", "post", "413"), "POST /api/orders: does not document 413"),
    "body-without-400": (
        _drop("/api/auth/login", "post", "400"), "POST /api/auth/login: does not document 400"),
    "path-param-without-404": (
        _drop("/api/orders/{order_id}", "get", "404"),
        "GET /api/orders/{order_id}: does not document 404"),
    "secured-without-401": (
        _drop("/api/admin/audit", "get", "401"), "GET /api/admin/audit: does not document 401"),
    "without-405": (
        _drop("/healthz", "get", "405"), "GET /healthz: does not document 405"),
    "without-503": (
        _drop("/api/categories", "get", "503"), "GET /api/categories: does not document 503"),
    "without-2xx": (
        _drop("/api/categories", "get", "200"), "GET /api/categories: no 2xx response"),
    "error-not-error-schema": (
        _error_as_health, "GET /api/categories 503: error response schema is not"),
    "bodiless-200": (
        _bodiless_200, "GET /api/categories 200: no content"),
    "duplicate-operation-id": (
        _set("/api/orders", "get", "operationId", "createOrder"),
        "operationId 'createOrder' is used by 2 operations"),
    "no-operation-id": (
        _set("/api/orders", "get", "operationId", ""), "GET /api/orders: no operationId"),
    "no-summary": (
        _set("/api/orders", "get", "summary", ""), "GET /api/orders: no summary"),
    "no-tags": (
        _set("/api/orders", "get", "tags", []), "GET /api/orders: no tags"),
    "undeclared-tag": (
        _set("/api/orders", "get", "tags", ["shop"]), "tag 'shop' is not declared"),
    "undeclared-security-scheme": (
        _set("/api/orders", "get", "security", [{"cookie": []}]),
        "security scheme 'cookie' is not declared"),
    "undeclared-path-parameter": (
        _undeclared_path_param, "GET /api/orders/{order_id}/{line}: path template names"),
    "dangling-ref": (
        _dangling_ref, "$ref '#/components/schemas/Nope' does not resolve"),
    "extra-error-code": (
        _extra_error_code, "ErrorCode has ['teapot'] (not in plumbing.errors.STATUS_BY_CODE)"),
    "missing-error-code": (
        _missing_error_code, "ErrorCode lacks ['in_progress']"),
}


@pytest.mark.parametrize(("breakage", "expected"), BREAKAGES.values(), ids=BREAKAGES.keys())
def test_lint_notices(public, breakage, expected):
    broken = copy.deepcopy(public)
    breakage(broken)
    found = problems(broken)
    assert any(expected in p for p in found), "\n".join(found) or "no problems found"

