"""The OpenAPI document's text and finish: every status code the API answers, each error
with the Error schema (`finish`); `api_page` turns the document into the /api page's context."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from hpsearch.serve.models import Error

DESCRIPTION = (
    "Runs, trials and the study queue of one results folder. Errors are "
    '{"error": "one line"}. Every GET also answers HEAD; a method a path does not '
    "have answers 405 with Allow. Off loopback every request needs the token, on "
    "loopback (with --token) writes do: send Authorization: Bearer TOKEN (?token= in "
    "the URL is taken by pages only, which trade it for a cookie)."
)
STUDY = {
    "application/toml": {
        "schema": {"type": "string"},
        "example": """[study]
name = "housing"
dataset = "california_housing"
engines = ["optuna"]
max_train_samples = 300
[train]
epochs = 2
[optuna]
n_trials = 2
""",
    }
}
UPLOAD = {
    kind: {"schema": {"type": "string", "format": "binary"}}
    for kind in ("application/octet-stream", "text/csv")
}
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
# What any operation may answer before it runs (GuardMiddleware), or when it crashes
EVERY = {
    400: "Host not this server's (on loopback), or a malformed Content-Length",
    401: "token missing or wrong (see the description), or given in the URL",
    500: "internal error (a bug: please report it)",
}
WRITES = {
    403: "a request from another site's page (Origin, Sec-Fetch-Site)",
    413: "a body over the server's limit (256 KiB unless set)",
}
# A path parameter may hold an encoded "/", which lands on another path or none
IN_PATH = {404: "not found", 405: "a path parameter holding '/' reached a path without this method"}
# For the codes FastAPI describes by their reason phrase only
WHEN = {
    404: "no such run, job or file (or no data folder)",
    409: "the run or job is not in a state that allows it",
    413: "a body over the server's limit",
    415: "a Content-Type other than application/toml (a study) or a file's (data)",
    422: "invalid input: the one line names the field, what was expected and what was found",
}


def documented(model: Any, *codes: int, ok: int = 200) -> dict[int | str, Any]:
    """A route's `responses`: its reply's model and the errors only it answers (the codes every
    operation can answer, 400, 401, 405 ..., are added by `finish`)."""
    out: dict[int | str, Any] = {ok: {"model": model}} if model else {}
    out.update({c: {"model": Error} for c in codes})
    return out


def finish(doc: dict[str, Any]) -> dict[str, Any]:
    """Document every status code the API answers, each error with the Error schema; in place."""
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = Error.model_json_schema()
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for method, op in _operations(doc):
        answers = op.setdefault("responses", {})
        validation = answers.get("422", {}).get("content", {}).get("application/json", {})
        if "HTTPValidationError" in str(validation):
            # FastAPI's own shape, which this API never sends; answered only where a query can
            # be invalid (path parameters are any text)
            del answers["422"]
            if any(p["in"] == "query" and p.get("required") for p in op.get("parameters", [])):
                answers["422"] = {"description": "a query parameter missing or invalid"}
        codes = {
            **EVERY,
            **(WRITES if method != "get" else {}),
            **(IN_PATH if any(p["in"] == "path" for p in op.get("parameters", [])) else {}),
        }
        for code, why in codes.items():
            answers.setdefault(str(code), {"description": why})
        for code, answer in answers.items():
            if code[0] in "45":
                answer["content"] = ERROR
            if answer.get("description") == HTTPStatus(int(code)).phrase and int(code) in WHEN:
                answer["description"] = WHEN[int(code)]
        op["security"] = [{}, {"bearer": []}]  # optional on loopback
    for unused in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(unused, None)
    return doc


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for methods in doc.get("paths", {}).values():
        yield from (
            (m, op) for m, op in methods.items() if isinstance(op, dict) and "responses" in op
        )


def api_page(doc: dict[str, Any]) -> dict[str, Any]:
    """The /api page's context: each operation (path, method, text, parameters, body,
    responses) and each schema's fields, type names already written out."""
    operations = []
    for path, methods in doc.get("paths", {}).items():
        for method, op in methods.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            body = op.get("requestBody", {}).get("content", {})
            examples = [c["example"] for c in body.values() if "example" in c]
            operations.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "id": f"{method}-{path}",
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": type_name(p.get("schema", {})),
                            "description": p.get("description", ""),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": [
                        f"{kind}: {type_name(c.get('schema', {}))}" for kind, c in body.items()
                    ],
                    "examples": examples,
                    "responses": [
                        {
                            "code": code,
                            "description": r.get("description", ""),
                            "type": ", ".join(
                                type_name(c.get("schema", {}))
                                for c in r.get("content", {}).values()
                            ),
                        }
                        for code, r in sorted(op["responses"].items())
                    ],
                }
            )
    models = [
        {
            "name": name,
            "fields": [
                {
                    "name": field,
                    "type": type_name(spec),
                    "required": field in model.get("required", []),
                }
                for field, spec in model.get("properties", {}).items()
            ],
        }
        for name, model in sorted(doc.get("components", {}).get("schemas", {}).items())
    ]
    return {
        "description": doc.get("info", {}).get("description", ""),
        "openapi": doc.get("openapi", ""),
        "operations": operations,
        "models": models,
        "names": [m["name"] for m in models],
    }


def type_name(spec: dict[str, Any]) -> str:
    """A JSON schema as a short type: `RunSummary`, `list[Job]`, `string | null`."""
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in spec:
        return " | ".join(type_name(s) for s in spec["anyOf"])
    if "enum" in spec:
        return " | ".join(repr(v) for v in spec["enum"])
    if "const" in spec:
        return repr(spec["const"])
    kind = spec.get("type", "any")
    if kind == "array":
        return f"list[{type_name(spec.get('items', {}))}]"
    if kind == "object" and isinstance(spec.get("additionalProperties"), dict):
        return f"dict[string, {type_name(spec['additionalProperties'])}]"
    return str(kind)
