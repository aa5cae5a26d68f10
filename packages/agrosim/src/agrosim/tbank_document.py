"""T-Bank's acquiring OpenAPI document (v1.80) as JSON Schema validators, for tests.

The simulator's tests check every request it accepts and every answer and notification it
sends against this; agronom's tests check every request its client sends.

How the document is read (OpenAPI 3.0.2 Schema Objects are JSON Schema draft 4 with ``$ref``
siblings ignored):

- the whole document is one ``referencing`` resource, so ``#/components/...`` refs resolve, and
  validation uses ``Draft4Validator`` (Draft 2020-12 would apply ``$ref`` siblings such as
  ``type: array`` next to a ``$ref`` to an object, and reject valid receipts);
- ``oneOf`` is read as ``anyOf``: the document's ``oneOf`` branches (``DATA``: Common/T-Pay/
  LongPay; ``Receipt``: FFD 1.05/1.2; the notification union) have no discriminator, so any
  valid object matches several and strict ``oneOf`` rejects it;
- ``QrResponse_FULL`` does not require ``RequestKey``: its own description says it is sent only
  when a payment links an account at once;
- ``GetQr`` takes ``PaymentId`` as an integer or a string: its description says "Запрос будет
  работать, даже если указать значение в формате string";
- formats are not checked (``uuid`` would refuse the document's own RequestKey "77520").

Error answers are outside it: the document has no schema for ``Success: false`` bodies.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # jsonschema ships no type information
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

URI = "urn:tbank-acquiring-openapi"
NOTIFICATIONS = {
    "payment": "#/components/schemas/NotificationPayment",
    "link": "#/components/schemas/NotificationQr",
    "card": "#/components/schemas/NotificationAddCard",
    "fiscalization": "#/components/schemas/NotificationFiscalization",
}


def _any_of(node: Any) -> Any:
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _any_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_any_of(v) for v in node]
    return node


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Example:
    name: str
    pointer: str
    value: Any


class Document:
    """The document at ``path``, read as the module docstring says."""

    def __init__(self, path: Path) -> None:
        self.raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        read = _any_of(copy.deepcopy(self.raw))
        qr = read["components"]["schemas"]["QrResponse_FULL"]
        qr["required"] = [k for k in qr["required"] if k != "RequestKey"]
        read["components"]["schemas"]["GetQr"]["properties"]["PaymentId"]["type"] = [
            "integer",
            "string",
        ]
        resource = Resource.from_contents(read, default_specification=DRAFT4)
        self.registry: Registry[Any] = Registry().with_resource(URI, resource)
        self.read = read

    def operation(self, method: str) -> dict[str, Any]:
        """The ``post`` operation of ``/v2/<method>``."""
        found: dict[str, Any] = self.raw["paths"][f"/v2/{method}"]["post"]
        return found

    def request_pointer(self, method: str) -> str:
        ref: str = self.operation(method)["requestBody"]["content"]["application/json"]["schema"][
            "$ref"
        ]
        return ref

    def response_pointer(self, method: str) -> str:
        schema = self.operation(method)["responses"]["200"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            ref: str = schema["$ref"]
            return ref
        path = _escape(f"/v2/{method}")
        return f"#/paths/{path}/post/responses/200/content/application~1json/schema"

    def errors(self, pointer: str, instance: Any) -> list[str]:
        """What is wrong with ``instance`` against the schema at ``pointer`` (empty: valid)."""
        validator = jsonschema.Draft4Validator({"$ref": URI + pointer}, registry=self.registry)
        return sorted(
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in validator.iter_errors(instance)
        )

    def request_errors(self, method: str, body: Any) -> list[str]:
        return self.errors(self.request_pointer(method), body)

    def response_errors(self, method: str, body: Any) -> list[str]:
        return self.errors(self.response_pointer(method), body)

    def notification_errors(self, kind: str, body: Any) -> list[str]:
        return self.errors(NOTIFICATIONS[kind], body)

    def _examples(self, content: dict[str, Any], base: str) -> list[Example]:
        if "examples" in content:
            return [
                Example(name, f"{base}/examples/{_escape(name)}/value", item["value"])
                for name, item in content["examples"].items()
            ]
        if "example" in content:
            return [Example("example", f"{base}/example", content["example"])]
        return []

    def request_examples(self, method: str) -> list[Example]:
        base = f"#/paths/{_escape(f'/v2/{method}')}/post/requestBody/content/application~1json"
        content = self.operation(method)["requestBody"]["content"]["application/json"]
        return self._examples(content, base)

    def response_examples(self, method: str) -> list[Example]:
        base = f"#/paths/{_escape(f'/v2/{method}')}/post/responses/200/content/application~1json"
        content = self.operation(method)["responses"]["200"]["content"]["application/json"]
        return self._examples(content, base)


def shape(value: Any) -> Any:
    """The JSON shape of ``value``: objects as ``{key: shape}``, arrays as the shapes of their
    items, scalars as their JSON type (integers and other numbers are both ``number``)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null"


def unlike(sent: Any, documented: Any, where: str = "") -> list[str]:
    """Where ``sent`` differs in keys or types from the documented example ``documented``:
    every key sent must be in the example with the same JSON type; arrays are compared item by
    item with the example's first item (an example that shows an object where its schema says
    array counts as that one item)."""
    problems: list[str] = []
    if isinstance(sent, dict):
        if not isinstance(documented, dict):
            return [f"{where or '(root)'}: an object, documented {shape(documented)}"]
        for key, value in sent.items():
            if key not in documented:
                problems.append(f"{where}{key}: not in the documented example")
            else:
                problems += unlike(value, documented[key], f"{where}{key}.")
        return problems
    if isinstance(sent, list):
        model = documented[0] if isinstance(documented, list) and documented else documented
        for i, item in enumerate(sent):
            problems += unlike(item, model, f"{where}{i}.")
        return problems
    if shape(sent) != shape(documented):
        return [f"{where.rstrip('.')}: {shape(sent)}, documented {shape(documented)}"]
    return []
