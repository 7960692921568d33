"""Resolves one of Nova's notification samples (openstack/nova doc/notification_samples) the
way Nova's own tests do (nova/tests/json_ref.py: load the `$ref` file, apply the sibling keys
over it recursively), so that a fixture is what Nova really sends, not the sample's shorthand.
Usage: python3 resolve_notification_sample.py NOVA_CHECKOUT/doc/notification_samples/X.json > X.json
"""
import json
import os
import sys


def _load(path):
    with open(path) as f:
        return resolve(json.load(f), os.path.dirname(path))


def _merge(target, overrides):
    for key, value in overrides.items():
        if key in target and isinstance(target[key], dict) and isinstance(value, dict):
            _merge(target[key], value)
        else:
            target[key] = value


def resolve(value, base):
    if isinstance(value, list):
        return [resolve(item, base) for item in value]
    if isinstance(value, dict):
        if "$ref" in value:
            ref = value.pop("$ref").partition("#")[0]
            resolved = _load(os.path.join(base, ref))
            _merge(resolved, resolve(value, base))
            return resolved
        return {key: resolve(item, base) for key, item in value.items()}
    return value


if __name__ == "__main__":
    print(json.dumps(_load(sys.argv[1]), indent=4, sort_keys=True))
