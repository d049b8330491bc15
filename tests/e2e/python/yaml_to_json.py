"""Reads a YAML stream (rendered manifests) on stdin and prints its
documents, empty ones dropped, as one JSON array."""

import json
import sys

try:
    import yaml
except ImportError:
    sys.exit("yaml_to_json.py: PyYAML is missing from the test venv: run `cargo xtask setup`")

print(json.dumps([doc for doc in yaml.safe_load_all(sys.stdin) if doc is not None]))
