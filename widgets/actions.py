"""Action widgets: cards that propose something for the user to confirm.

An action widget's payload names the `action` to run and its `params`; on Confirm the chat
hands both to the domain's run_action. So its schema must require both, at the top level:
`action` a string (usually an enum of the domain's actions) and `params` an object.
"""

from django.core.exceptions import ValidationError

# Registry files written before the mark existed name their action widget this; it stays an
# action unless its file says otherwise ("action": false).
LEGACY_ACTION_WIDGET = "action_request"


def default_is_action(name: str) -> bool:
    return name == LEGACY_ACTION_WIDGET


def action_schema_problems(json_schema) -> list[str]:
    """Why a payload of `json_schema` could not be run as an action ([] when it can)."""
    if not isinstance(json_schema, dict):
        return ["the schema is not an object"]
    properties = json_schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = json_schema.get("required")
    required = required if isinstance(required, list) else []
    problems = []
    for name, kind in (("action", "string"), ("params", "object")):
        sub = properties.get(name)
        if name not in required or not isinstance(sub, dict):
            problems.append(f"an action widget's schema must require a top-level `{name}`")
        elif not _only(sub, kind):
            problems.append(f"`{name}` must be of type {kind} (or an enum of such values)")
    return problems


_PYTHON_TYPES = {"string": str, "object": dict}


def _only(subschema: dict, kind: str) -> bool:
    """Whether every value `subschema` admits is of JSON type `kind`."""
    if "type" in subschema:
        return subschema["type"] == kind
    values = subschema.get("enum", [subschema["const"]] if "const" in subschema else None)
    return (
        isinstance(values, list)
        and bool(values)
        and all(isinstance(v, _PYTHON_TYPES[kind]) for v in values)
    )


def validate_action_mark(is_action: bool, *, json_schema) -> None:
    """Raise ValidationError (field is_action) when an action widget's schema cannot run."""
    if is_action and (problems := action_schema_problems(json_schema)):
        raise ValidationError(
            {"is_action": [ValidationError(p, code="not_an_action_schema") for p in problems]}
        )
