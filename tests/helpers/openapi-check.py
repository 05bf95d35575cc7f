#!/usr/bin/env python3
"""Check what servos serve answered against the OpenAPI document kept in
the repository (engine/api/web/openapi.json), for tests/92-api.t.

  openapi-check.py OPENAPI.json RECORDS-DIR
      Each record is a file METHOD PATH-TEMPLATE STATUS (first line) and
      the JSON body (the rest). Every body must match the schema of that
      operation's response (JSON Schema 2020-12, as OpenAPI 3.1 says).
      Prints one line per failure; exit 1 on any.
  openapi-check.py OPENAPI.json --schema NAME FILE.json
      FILE.json (or each line of it) must match components/schemas/NAME
      (an event's data).
  openapi-check.py OPENAPI.json --routes ROUTES.json
      ROUTES.json: the daemon's "METHOD PATTERN" list (GET /v1): every
      route must be documented, and every documented operation a route."""
import json
import os
import sys

from jsonschema import Draft202012Validator

doc = json.load(open(sys.argv[1]))


def resolve(schema):
    return {**schema, "components": doc["components"]} if isinstance(schema, dict) else schema


def schema_of(method, path, status):
    op = doc["paths"].get(path, {}).get(method.lower())
    if op is None:
        return None, f"{method} {path}: not in the document"
    resp = op["responses"].get(str(status))
    if resp is None:
        return None, f"{method} {path}: status {status} not documented"
    if "$ref" in resp:
        resp = doc["components"]["responses"][resp["$ref"].split("/")[-1]]
    content = resp.get("content", {}).get("application/json")
    if content is None:
        return None, f"{method} {path} {status}: no JSON answer documented"
    return content["schema"], None


def check_records(d):
    bad = 0
    for name in sorted(os.listdir(d)):
        text = open(os.path.join(d, name)).read()
        head, _, body = text.partition("\n")
        method, path, status = head.split()
        schema, err = schema_of(method, path, status)
        if err and int(status) >= 400:
            # Errors any path may answer (404, 405, 413...): the error shape.
            schema, err = {"$ref": "#/components/schemas/Error"}, None
        if err:
            print(f"{name}: {err}")
            bad += 1
            continue
        # Refs point into the document: validate with it as the root.
        root = dict(doc)
        root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        v = Draft202012Validator({"$ref": "#/x", **{"x": schema}, "components": doc["components"]})
        for e in v.iter_errors(json.loads(body)):
            print(f"{name}: {method} {path} {status}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
            bad += 1
    print(f"{len(os.listdir(d))} answers checked")
    return bad


def check_routes(f):
    routes = set()
    for r in json.load(open(f)):
        m, p = r.split(" ", 1)
        routes.add((m, p.replace("*}", "}")))
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    bad = 0
    for m, p in sorted(routes - documented):
        print(f"served but not documented: {m} {p}")
        bad += 1
    for m, p in sorted(documented - routes):
        print(f"documented but not served: {m} {p}")
        bad += 1
    return bad


def check_schema(name, f):
    v = Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})
    text = open(f).read()
    try:
        docs = [json.loads(text)]
    except ValueError:  # JSON lines: each one a document
        docs = [json.loads(l) for l in text.splitlines() if l.strip()]
    bad = 0
    for i, d in enumerate(docs):
        for e in v.iter_errors(d):
            print(f"{f}:{i + 1}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
            bad += 1
    return bad


if len(sys.argv) > 4 and sys.argv[2] == "--schema":
    sys.exit(1 if check_schema(sys.argv[3], sys.argv[4]) else 0)
if len(sys.argv) > 3 and sys.argv[2] == "--routes":
    sys.exit(1 if check_routes(sys.argv[3]) else 0)
sys.exit(1 if check_records(sys.argv[2]) else 0)
