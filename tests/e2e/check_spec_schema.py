#!/usr/bin/env python3
"""Independent check of the spec JSON Schema (docs/spec.schema.json, `pipeline schema`) with the
Python `jsonschema` package: every example pipeline, every golden test's stages and every extra spec
given must validate; each tests/specs/invalid case declares with a `# schema:` line whether the
schema sees its error (`# schema: invalid`, a shape error: unknown key, wrong type, missing field)
or not (`# schema: valid, <why>`, an error only the parser's later checks find), and must behave so.
`${VAR:-default}` takes its default and `${VAR}` a placeholder string, as an environment would.
Prints a JSON summary. Usage: check_spec_schema.py REPO_ROOT SCHEMA_JSON [SPEC...]"""
import glob, json, os, re, sys
import yaml
from jsonschema.validators import validator_for

root, schema_path, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
schema = json.load(open(schema_path))
cls = validator_for(schema)
cls.check_schema(schema)
validator = cls(schema)


class Loader(yaml.SafeLoader):
    """YAML 1.2 core-schema scalars, as the Rust parser reads them: only true/false are booleans
    (PyYAML's YAML 1.1 also reads yes/no/on/off), and timestamps stay strings."""


Loader.yaml_implicit_resolvers = {}
for tag, pattern, first in [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", list("~nN") + [""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
]:
    Loader.add_implicit_resolver(tag, re.compile(pattern), first)

placeholders = set()


def interpolate(text):
    def sub(m):
        name, _, default = m.group(2).partition(":-")
        if m.group(1):
            return "${" + m.group(2) + "}"
        if ":-" in m.group(2):
            return default
        placeholders.add(name)
        return f"placeholder-{name.lower()}"
    return re.sub(r"(\$?)\$\{([^}]*)\}", sub, text)


def load(path):
    return yaml.load(interpolate(open(path).read()), Loader=Loader)


def errors(doc):
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(doc)]


failures, valid, shape, semantic = [], [], [], []
for path in sorted(glob.glob(os.path.join(root, "pipelines", "*.yaml"))) + extra:
    errs = errors(load(path))
    if errs:
        failures.append(f"{path} should validate: {errs}")
    valid.append(os.path.relpath(path, root))

# The golden cases are stage lists; the engine's golden test wraps them in a spec like this one.
for path in sorted(glob.glob(os.path.join(root, "tests", "golden", "*", "stages.yaml"))):
    spec = {"name": "golden", "source": {"files": "input.jsonl", "format": "jsonl"}, "stages": load(path),
            "sinks": [{"jsonl": "out"}], "rejects": "rejects", "engine": {"threads": 1}}
    errs = errors(spec)
    if errs:
        failures.append(f"{path} should validate: {errs}")
    valid.append(os.path.relpath(path, root))

for path in sorted(glob.glob(os.path.join(root, "tests", "specs", "invalid", "*.yaml"))):
    name = os.path.relpath(path, root)
    marks = [l[len("# schema:"):].strip() for l in open(path) if l.startswith("# schema:")]
    if len(marks) != 1 or not (marks[0] == "invalid" or marks[0].startswith("valid, ")):
        failures.append(f"{name}: needs one `# schema: invalid` or `# schema: valid, <why>` line")
        continue
    errs = errors(load(path))
    if marks[0] == "invalid":
        shape.append(name)
        if not errs:
            failures.append(f"{name} is a shape error, but the schema accepts it")
    else:
        semantic.append(name)
        if errs:
            failures.append(f"{name} is marked `{marks[0]}`, but the schema rejects it: {errs}")

print(json.dumps({"valid": valid, "shape_errors": shape, "semantic_errors": semantic,
                  "placeholders": sorted(placeholders), "failures": failures}, indent=1))
sys.exit(1 if failures else 0)
