"""Write the model's OpenAPI schema, derived by the installed cog runtime.

Run inside the build, in the image's working directory, by cog-frontend:

    python cog_facts.py predict|train FILE.py:NAME OUT.json

cog releases up to 0.22 ship `python -m cog.command.openapi_schema`, the
command Cog itself runs after a build; when it exists it is used as is.
Newer releases (0.23) dropped it (Cog's CLI now generates the schema), but
they still ship the introspection (cog._inspector, cog._adt) that turns a
predictor into typed inputs and an output type; the OpenAPI document around
them is the fixed Cog envelope (paths, PredictionRequest/Response, Status,
validation errors), built here. The output is compact JSON with no trailing
newline, so that the file and the run.cog.openapi_schema label are the same
bytes; keys keep insertion order, which is deterministic.
"""

import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys


def _default_value(field):
    """The schema default of an input, or None when it has none."""
    default = field.default
    if isinstance(default, dataclasses.Field):
        if default.default_factory is not dataclasses.MISSING:
            return default.default_factory()
        if default.default is not dataclasses.MISSING:
            return default.default
        return None
    return default


def _input_schema(adt, info):
    properties = {}
    required = []
    for name, field in info.inputs.items():
        prop = {"x-order": field.order}
        if field.choices is not None:
            # Choices are their own component, referenced from the input.
            prop["allOf"] = [{"$ref": "#/components/schemas/" + name}]
        else:
            prop["title"] = name.replace("_", " ").title()
            prop.update(field.type.json_type())
        repetition = field.type.repetition
        if field.default is None:
            if repetition in (adt.Repetition.REQUIRED, adt.Repetition.REPEATED):
                required.append(name)
        else:
            value = _default_value(field)
            if value is not None:
                prop["default"] = field.type.json_encode(field.type.normalize(value))
        if repetition is adt.Repetition.OPTIONAL:
            prop["nullable"] = True
        for attr, key in (
            ("description", "description"),
            ("ge", "minimum"),
            ("le", "maximum"),
            ("min_length", "minLength"),
            ("max_length", "maxLength"),
            ("regex", "pattern"),
            ("deprecated", "deprecated"),
        ):
            value = getattr(field, attr, None)
            if value is not None:
                prop[key] = value
        properties[name] = prop
    schema = {"properties": properties, "type": "object", "title": "Input"}
    if required:
        schema["required"] = required
    return schema


def _enum_schemas(info):
    enums = {}
    for name, field in info.inputs.items():
        if field.choices is None:
            continue
        enum = {"title": name, "description": "An enumeration.", "enum": field.choices}
        enum.update(field.type.primitive.json_type())
        enums[name] = enum
    return enums


def _ok(schema):
    return {
        "description": "Successful Response",
        "content": {"application/json": {"schema": schema}},
    }


_INVALID = {
    "description": "Validation Error",
    "content": {
        "application/json": {
            "schema": {"$ref": "#/components/schemas/HTTPValidationError"}
        }
    },
}


def _document(adt, info, mode):
    if mode == "train":
        noun, Noun = "training", "Training"
        route, request, response = "/trainings", "TrainingRequest", "TrainingResponse"
        summary, description = "Train", "Run a training session"
        operation = "train_trainings_post"
    else:
        noun, Noun = "prediction", "Prediction"
        route, request, response = "/predictions", "PredictionRequest", "PredictionResponse"
        summary, description = "Predict", "Run a single prediction on the model"
        operation = "predict_predictions_post"
    id_param = noun + "_id"
    cancel_route = route + "/{" + id_param + "}/cancel"

    def stamp(title):
        return {"title": title, "type": "string", "format": "date-time"}

    schemas = {
        "HTTPValidationError": {
            "title": "HTTPValidationError",
            "type": "object",
            "properties": {
                "detail": {
                    "title": "Detail",
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/ValidationError"},
                }
            },
        },
        request: {
            "title": request,
            "type": "object",
            "properties": {
                "id": {"title": "Id", "type": "string"},
                "input": {"$ref": "#/components/schemas/Input"},
            },
        },
        response: {
            "title": response,
            "type": "object",
            "properties": {
                "input": {"$ref": "#/components/schemas/Input"},
                "output": {"$ref": "#/components/schemas/Output"},
                "id": {"title": "Id", "type": "string"},
                "version": {"title": "Version", "type": "string"},
                "created_at": stamp("Created At"),
                "started_at": stamp("Started At"),
                "completed_at": stamp("Completed At"),
                "status": {"title": "Status", "type": "string"},
                "error": {"title": "Error", "type": "string"},
                "logs": {"title": "Logs", "type": "string"},
                "metrics": {"title": "Metrics", "type": "object"},
            },
        },
        "Status": {
            "title": "Status",
            "description": "An enumeration.",
            "enum": ["starting", "processing", "succeeded", "canceled", "failed"],
            "type": "string",
        },
        "ValidationError": {
            "title": "ValidationError",
            "required": ["loc", "msg", "type"],
            "type": "object",
            "properties": {
                "loc": {
                    "title": "Location",
                    "type": "array",
                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                },
                "msg": {"title": "Message", "type": "string"},
                "type": {"title": "Error Type", "type": "string"},
            },
        },
    }
    schemas["Input"] = _input_schema(adt, info)
    schemas["Output"] = info.output.json_type()
    schemas.update(_enum_schemas(info))

    return {
        "openapi": "3.0.2",
        # Cog's info.version equals the image's run.cog.version, which is
        # the installed cog's version.
        "info": {"title": "Cog", "version": importlib.metadata.version("cog")},
        "paths": {
            "/": {"get": {"summary": "Root", "operationId": "root__get", "responses": {"200": _ok({})}}},
            "/health-check": {
                "get": {
                    "summary": "Healthcheck",
                    "operationId": "healthcheck_health_check_get",
                    "responses": {"200": _ok({})},
                }
            },
            route: {
                "post": {
                    "summary": summary,
                    "description": description,
                    "operationId": operation,
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/" + request}
                            }
                        }
                    },
                    "responses": {
                        "200": _ok({"$ref": "#/components/schemas/" + response}),
                        "422": _INVALID,
                    },
                }
            },
            cancel_route: {
                "post": {
                    "summary": "Cancel",
                    "operationId": "cancel_" + noun + "s__" + id_param + "__cancel_post",
                    "parameters": [
                        {
                            "required": True,
                            "schema": {"title": Noun + " Id", "type": "string"},
                            "name": id_param,
                            "in": "path",
                        }
                    ],
                    "responses": {"200": _ok({}), "422": _INVALID},
                }
            },
        },
        "components": {"schemas": schemas},
    }


def main(argv):
    if len(argv) != 4 or argv[1] not in ("predict", "train"):
        sys.stderr.write("usage: cog_facts.py predict|train FILE.py:NAME OUT.json\n")
        return 2
    mode, ref, out = argv[1], argv[2], argv[3]
    path, sep, name = ref.rpartition(":")
    if not sep or not path.endswith(".py") or not name:
        sys.stderr.write("cog-frontend: %r is not FILE.py:NAME\n" % ref)
        return 2
    module = path[: -len(".py")].replace("/", ".")
    schema = _runtime_command_schema(ref, mode)
    if schema is not None:
        return _write(out, schema)
    sys.path.insert(0, os.getcwd())
    try:
        from cog import _adt as adt
        from cog import _inspector as inspector
    except ImportError as err:
        sys.stderr.write(
            "cog-frontend: the installed cog package cannot describe predictors "
            "(%s); build.sdk_version must be 0.17.0 or later\n" % err
        )
        return 1
    info = inspector.create_predictor(module, name)
    return _write(out, _document(adt, info, mode))


def _runtime_command_schema(ref, mode):
    """The schema printed by the runtime's own command, or None when this
    cog release has no such command."""
    try:
        if importlib.util.find_spec("cog.command.openapi_schema") is None:
            return None
    except ImportError:
        return None
    env = dict(os.environ)
    # The command finds the predictor through cog.yaml or these variables.
    env["COG_PREDICT_TYPE_STUB" if mode == "predict" else "COG_TRAIN_TYPE_STUB"] = ref
    proc = subprocess.run(
        [sys.executable, "-m", "cog.command.openapi_schema"],
        stdout=subprocess.PIPE,
        env=env,
        check=True,
    )
    return json.loads(proc.stdout)


def _write(out, schema):
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps(schema, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
