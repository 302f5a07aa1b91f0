#!/usr/bin/env python3
"""validate-kubernetes.py SCHEMA_DIR MANIFEST... - checks Kubernetes manifests offline.

Every YAML document in each MANIFEST is validated against the vendored JSON schema
for its apiVersion and kind (SCHEMA_DIR/<kind>-<group>-<version>.json, or
<kind>-<version>.json for the core group), with SCHEMA_DIR/_definitions.json for the
shared definitions. The schemas are strict: an unknown field is an error, as
`kubectl apply --validate=strict` makes it. A kind without a vendored schema is an
error too, so a manifest cannot pass by being unchecked.
Prints one line per problem and exits 1 if there was any, else prints what it checked.
"""
import json
import os
import sys

import jsonschema
import yaml


def load(path):
    with open(path) as f:
        return json.load(f)


def schema_name(doc):
    group_version = doc.get("apiVersion") or ""
    kind = (doc.get("kind") or "").lower()
    if "/" in group_version:
        group, version = group_version.split("/", 1)
        return f"{kind}-{group.split('.')[0]}-{version}.json"
    return f"{kind}-{group_version}.json"


def problems(schema_dir, path, index, doc, definitions):
    where = f"{path}: document {index}"
    if not isinstance(doc, dict):
        return [f"{where}: not a mapping"]
    schema_path = os.path.join(schema_dir, schema_name(doc))
    if not os.path.exists(schema_path):
        return [f"{where}: no schema for apiVersion {doc.get('apiVersion')!r} kind {doc.get('kind')!r}"]
    schema = load(schema_path)
    resolver = jsonschema.RefResolver.from_schema(
        schema, store={definitions["$id"]: definitions}
    )
    validator = jsonschema.Draft202012Validator(schema, resolver=resolver)
    found = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        field = ".".join(str(p) for p in error.absolute_path) or "(top)"
        found.append(f"{where} ({doc.get('kind')}): {field}: {error.message}")
    return found


def main(argv):
    if len(argv) < 3:
        print("usage: validate-kubernetes.py SCHEMA_DIR MANIFEST...", file=sys.stderr)
        return 2
    schema_dir, paths = argv[1], argv[2:]
    definitions = load(os.path.join(schema_dir, "_definitions.json"))
    found, checked = [], 0
    for path in paths:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        if not docs:
            found.append(f"{path}: no documents")
        for index, doc in enumerate(docs):
            found.extend(problems(schema_dir, path, index, doc, definitions))
            checked += 1
    for line in found:
        print(line)
    if found:
        return 1
    print(f"{checked} documents valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
