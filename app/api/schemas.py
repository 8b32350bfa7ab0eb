"""The building blocks of each API module's `OPERATIONS` (its part of `/openapi.json`): the error
shape, the rate-limit headers, and a pydantic model's schema as components.

    OPERATIONS = {
        "/v1/things/{id}": {
            "get": operation(
                "Read a thing", "things:read",
                responses={"200": json_response("The thing", ref("Thing"))},
                parameters=[path_parameter("id", "The thing's id")],
            )
        }
    }
    SCHEMAS = model_schemas(Thing)  # merged into components.schemas
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

JsonSchema = dict[str, Any]
COMPONENTS = "#/components/schemas/"

ERROR_SCHEMA: JsonSchema = {
    "type": "object",
    "required": ["error", "request_id"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, for programs"},
                "message": {"type": "string", "description": "a sentence, for people"},
                "details": {
                    "type": "array",
                    "description": "one entry per problem (each field of a refused body)",
                    "items": {"type": "object"},
                },
            },
        },
        "request_id": {"type": "string", "description": "the answer's X-Request-ID"},
    },
}

INTEGER_HEADER: JsonSchema = {"schema": {"type": "integer", "minimum": 0}}
RATE_LIMIT_HEADERS: dict[str, JsonSchema] = {
    "X-RateLimit-Limit": {
        **INTEGER_HEADER,
        "description": "requests the key may make in the window nearest its limit",
    },
    "X-RateLimit-Remaining": {**INTEGER_HEADER, "description": "requests left in that window"},
    "X-RateLimit-Reset": {
        **INTEGER_HEADER,
        "description": "when that window starts again (Unix time, seconds)",
    },
}
REQUEST_ID_HEADER: dict[str, JsonSchema] = {
    "X-Request-ID": {
        "schema": {"type": "string", "maxLength": 200},
        "description": "the caller's id (printable ASCII, at most 200 characters) or a new one",
    }
}
ANSWER_HEADERS = {**REQUEST_ID_HEADER, **RATE_LIMIT_HEADERS}
RETRY_AFTER: dict[str, JsonSchema] = {
    "Retry-After": {**INTEGER_HEADER, "description": "seconds until a request may succeed"}
}


def ref(name: str) -> JsonSchema:
    return {"$ref": COMPONENTS + name}


def model_schemas(*models: type[BaseModel]) -> dict[str, JsonSchema]:
    """Each model's JSON schema (and the models it nests), named as `ref` names them."""
    schemas: dict[str, JsonSchema] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=COMPONENTS + "{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def error_response(description: str, headers: dict[str, JsonSchema] | None = None) -> JsonSchema:
    return {
        "description": description,
        "headers": {**ANSWER_HEADERS, **(headers or {})},
        "content": {"application/json": {"schema": ref("Error")}},
    }


# Every authenticated operation can answer these; `default` covers the rest in the same shape.
AUTH_ERRORS: dict[str, JsonSchema] = {
    "401": error_response("No key, or an unknown, expired or revoked one (`unauthorized`)"),
    "403": error_response("The key lacks the operation's scope (`forbidden`)"),
    "429": error_response(
        "The key's rate limit is reached (`rate_limited`); retry after Retry-After seconds",
        RETRY_AFTER,
    ),
    "default": error_response("Any other refusal, in the same shape"),
}


def json_response(description: str, schema: JsonSchema) -> JsonSchema:
    return {
        "description": description,
        "headers": ANSWER_HEADERS,
        "content": {"application/json": {"schema": schema}},
    }


def query_parameter(name: str, description: str, schema: JsonSchema) -> JsonSchema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def path_parameter(name: str, description: str, schema: JsonSchema | None = None) -> JsonSchema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def operation(
    summary: str,
    scope: str,
    *,
    responses: dict[str, JsonSchema],
    parameters: list[JsonSchema] | None = None,
    description: str = "",
    request_body: JsonSchema | None = None,
    operation_id: str = "",
) -> JsonSchema:
    """An authenticated operation: the bearer key with `scope`, and the errors every such
    operation may answer besides its own `responses`."""
    described: JsonSchema = {
        "summary": summary,
        "description": (description + f"\n\nNeeds a key with the `{scope}` scope.").strip(),
        "security": [{"bearer": []}],
        "parameters": parameters or [],
        "responses": {**AUTH_ERRORS, **responses},
    }
    if operation_id:
        described["operationId"] = operation_id
    if request_body is not None:
        described["requestBody"] = request_body
    return described
