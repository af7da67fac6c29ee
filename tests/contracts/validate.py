"""Check bodies against `contracts/`: reusable by every test that speaks AGORA's wire format.

    validate_component("Creation", body)        # any #/components/schemas/<name>
    validate_lot_line(line) / validate_compte_rendu_line(line)   # the two NDJSON line schemas
    validate_request_body("POST", "/agora/v2/dossiers", body)    # an operation's request body
    validate_response(response)                 # an httpx.Response, by its method, path, status

Each raises `ContractViolation` (an AssertionError) listing every mismatch. Formats are
checked (`date`, `date-time`, `uuid`), not only types and patterns.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
OPENAPI_FILE = CONTRACTS / "agora-v2.openapi.json"
LOT_LINE_FILE = CONTRACTS / "lot-line.schema.json"
COMPTE_RENDU_LINE_FILE = CONTRACTS / "compte-rendu-line.schema.json"
OPENAPI_URI = "urn:agora-bridge:contracts:agora-v2.openapi.json"
METHODS = ("get", "put", "post", "delete", "patch")


class ContractViolation(AssertionError):
    pass


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


@cache
def openapi() -> dict[str, Any]:
    return load(OPENAPI_FILE)


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(openapi(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(OPENAPI_URI, resource)
    return registry


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    # A schema taken out of the document refers to "#/components/...": of the document.
    absolute = json.loads(
        json.dumps(schema).replace('"#/components/', f'"{OPENAPI_URI}#/components/')
    )
    return Draft202012Validator(
        absolute, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


@cache
def component_validator(name: str) -> Draft202012Validator:
    if name not in openapi()["components"]["schemas"]:
        raise KeyError(f"no component schema {name!r}")
    return _validator({"$ref": f"{OPENAPI_URI}#/components/schemas/{name}"})


@cache
def _file_validator(path: Path) -> Draft202012Validator:
    return Draft202012Validator(load(path), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _check(validator: Draft202012Validator, instance: Any, what: str) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda error: list(error.path))
    if errors:
        lines = [f"  at /{'/'.join(map(str, e.path))}: {e.message}" for e in errors]
        raise ContractViolation(f"{what} breaks the contract:\n" + "\n".join(lines))


def validate_component(name: str, instance: Any) -> None:
    _check(component_validator(name), instance, f"#/components/schemas/{name}")


def validate_lot_line(instance: Any) -> None:
    _check(_file_validator(LOT_LINE_FILE), instance, LOT_LINE_FILE.name)


def validate_compte_rendu_line(instance: Any) -> None:
    _check(_file_validator(COMPTE_RENDU_LINE_FILE), instance, COMPTE_RENDU_LINE_FILE.name)


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    # Literal paths first, so that /dossiers/recherche is not read as /dossiers/{id_agora}.
    paths = sorted(openapi()["paths"], key=lambda path: (path.count("{"), path))
    return [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in paths]


def find_operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """(path template, operation) of the contract serving `method path`, or None.

    The first path that matches decides, whatever the method: `PATCH /dossiers/recherche` is
    the search's path with a method it does not take, not a rectification.
    """
    for pattern, template in _templates():
        if pattern.match(path):
            operation = openapi()["paths"][template].get(method.lower())
            return None if operation is None else (template, operation)
    return None


def _operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    found = find_operation(method, path)
    if found is None:
        raise ContractViolation(f"{method} {path} is not an operation of the contract")
    return found


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    reference = node.get("$ref")
    if reference is None:
        return node
    target: Any = openapi()
    for part in reference.removeprefix("#/").split("/"):
        target = target[part]
    return _resolve(target)


def _documented_response(operation: dict[str, Any], status: int, where: str) -> dict[str, Any]:
    responses = operation["responses"]
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            return _resolve(responses[key])
    raise ContractViolation(f"{where}: status {status} is not documented")


def validate_request_body(method: str, path: str, body: Any, media: str | None = None) -> None:
    """A request body (parsed JSON, or the form as a dict) against its operation's schema."""
    template, operation = _operation(method, path)
    content = _resolve(operation["requestBody"])["content"]
    media = media or next(iter(content))
    schema = content[media].get("x-ndjson-line", content[media]["schema"])
    _check(_validator(schema), body, f"{method} {template} request ({media})")


def validate_response(response: httpx.Response) -> None:
    """The response's status, media type, required headers and body, as the contract says."""
    request = response.request
    template, operation = _operation(request.method, request.url.path)
    where = f"{request.method} {template} {response.status_code}"
    documented = _documented_response(operation, response.status_code, where)
    _check_headers(documented, response, where)
    content = documented.get("content")
    if not content:
        if response.content:
            raise ContractViolation(f"{where}: a body where the contract documents none")
        return
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if media not in content:
        raise ContractViolation(f"{where}: media type {media!r}, expected one of {list(content)}")
    _check_body(content[media], media, response, where)


def _check_headers(documented: dict[str, Any], response: httpx.Response, where: str) -> None:
    for name, header in documented.get("headers", {}).items():
        value = response.headers.get(name)
        if value is None:
            if header.get("required"):
                raise ContractViolation(f"{where}: header {name} missing")
            continue
        schema = header.get("schema", {})
        if schema.get("type") == "integer" and not value.strip().isdigit():
            raise ContractViolation(f"{where}: header {name}={value!r} is not an integer")


def _check_body(
    media_type: dict[str, Any], media: str, response: httpx.Response, where: str
) -> None:
    if media == "application/x-ndjson":
        validator = _validator(media_type["x-ndjson-line"])
        lines = [line for line in response.text.split("\n") if line.strip()]
        for number, line in enumerate(lines, 1):
            _check(validator, json.loads(line), f"{where} line {number}")
        return
    try:
        body = response.json()
    except ValueError:
        raise ContractViolation(f"{where}: the body is not JSON") from None
    _check(_validator(media_type["schema"]), body, where)
