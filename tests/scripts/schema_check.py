#!/usr/bin/python3
"""Validate JSON lines / files against the repo's JSON Schemas.

usage: schema_check.py SCHEMA FILE...   (FILE: .json = one document, else JSONL)
Exit 1 with the first failing line when a document does not validate.
"""
import json
import os
import sys

import jsonschema
from jsonschema import Draft202012Validator


def validator(schema_path):
    schema_dir = os.path.dirname(os.path.abspath(schema_path))
    with open(schema_path) as f:
        schema = json.load(f)
    store = {}
    for name in os.listdir(schema_dir):
        if name.endswith(".schema.json"):
            with open(os.path.join(schema_dir, name)) as f:
                s = json.load(f)
            store[s.get("$id", name)] = s
            store[name] = s
    resolver = jsonschema.RefResolver(base_uri=schema.get("$id", ""), referrer=schema, store=store)
    return Draft202012Validator(schema, resolver=resolver,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def no_const(c):
    raise ValueError(f"{c} is not JSON")


def main():
    v = validator(sys.argv[1])
    n = 0
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as f:
            docs = [f.read()] if path.endswith(".json") else f.read().splitlines()
        for i, text in enumerate(docs, 1):
            if not text.strip():
                continue
            errs = sorted(v.iter_errors(json.loads(text, parse_constant=no_const)),
                          key=lambda e: e.path)
            if errs:
                print(f"{path}:{i}: {errs[0].message} at {list(errs[0].path)}")
                return 1
            n += 1
    print(f"{n} documents valid against {os.path.basename(sys.argv[1])}")
    return 0 if n > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
