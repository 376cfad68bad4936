"""PayloadValidator: formats are enforced, and the fast path never disagrees with jsonschema."""

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tests.markup.replay import REGISTRY, SCHEMAS
from widgets.markup import FieldError, PayloadValidator, validator_for
from widgets.markup.schema_fast_path import compile_check
from widgets.markup.validation import _last_path

LISTING = {
    "mls_id": "TX-10492",
    "address": "12 Oak St",
    "city": "Austin",
    "price": 449000,
    "beds": 3,
    "baths": 2,
    "status": "active",
}


def test_formats_are_enforced():
    listing = REGISTRY["listing_card"]
    assert listing.errors(LISTING) == []
    assert [e.pointer for e in listing.errors({**LISTING, "photo_url": "https://a b"})] == [
        "/photo_url"
    ]
    contact = REGISTRY["contact_card"]
    assert contact.errors({"name": "A", "role": "agent", "email": "a@b.co"}) == []
    assert [e.pointer for e in contact.errors({"name": "A", "role": "agent", "email": "ab"})] == [
        "/email"
    ]
    slots = REGISTRY["showing_scheduler"]
    good = {"mls_id": "TX-1234", "address": "1 Elm", "slots": [{"start": "", "minutes": 30}]}
    good["slots"][0]["start"] = "2025-03-01T10:00:00Z"
    assert slots.errors(good) == []
    good["slots"][0]["start"] = "2025-03-01 10:00"
    assert [e.pointer for e in slots.errors(good)] == ["/slots/0/start"]
    comps = REGISTRY["comparables_table"]
    comp = {"address": "1 Elm", "sold_price": 1, "sold_date": "2024-02-29", "sqft": 900}
    assert comps.errors({"subject_address": "abc", "comps": [comp]}) == []
    comp["sold_date"] = "2023-02-29"
    assert [e.pointer for e in comps.errors({"subject_address": "abc", "comps": [comp]})] == [
        "/comps/0/sold_date"
    ]


def test_errors_are_sorted_and_escaped_pointers():
    validator = PayloadValidator(
        {"type": "object", "properties": {"a/b~c": {"type": "string"}, "z": {"type": "string"}}}
    )
    assert validator.errors({"z": 1, "a/b~c": 2}) == [
        FieldError(pointer="/a~1b~0c", message="2 is not of type 'string'"),
        FieldError(pointer="/z", message="1 is not of type 'string'"),
    ]


def test_validator_for_compiles_each_schema_once():
    schema = SCHEMAS["listing_card"]
    reordered = dict(reversed(list(copy.deepcopy(schema).items())))
    assert validator_for(schema) is validator_for(reordered)
    assert validator_for(schema) is not validator_for(SCHEMAS["contact_card"])


def test_validation_never_raises():
    listing = REGISTRY["listing_card"]
    # jsonschema's multipleOf raises OverflowError on infinity.
    assert listing.errors({**LISTING, "baths": float("inf")})
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    nested = PayloadValidator({"$defs": {}, "properties": {"a": {"$ref": "#"}}})
    assert nested.errors(deep)[0].pointer == ""


def test_provisional_errors_leave_out_what_may_still_change():
    listing = REGISTRY["listing_card"]
    # Root is open: no required errors; "sta" may still become "active"; 3 may grow.
    assert listing.provisional_errors({"mls_id": "TX-1234", "status": "sta"}) == []
    assert listing.provisional_errors({"price": 3}) == []
    partial = {"price": "x", "status": "gone", "extra": 1, "city": "A"}
    assert [e.pointer for e in listing.provisional_errors(partial)] == [
        "",
        "/price",
        "/status",
    ]
    comps = REGISTRY["comparables_table"]
    # A finished comparable misses fields; the open one does not count yet.
    partial = {"subject_address": "abc", "comps": [{"address": "1 Elm"}, {}]}
    assert {e.pointer for e in comps.provisional_errors(partial)} == {"/comps/0"}


def test_unsupported_keywords_turn_the_fast_path_off():
    assert compile_check({"type": "object", "patternProperties": {"a": {}}}) is None
    assert compile_check({"type": "object", "$ref": "#/$defs/x"}) is None
    assert compile_check({"type": "object", "title": "x", "x-custom": 1}) is not None
    for schema in SCHEMAS.values():
        assert compile_check(schema) is not None


# fmt: off
STRINGS = [
    "TX-1234", "tx-12", "active", "agent", "2024-02-29", "2023-02-29", "a@b.c",
    "2025-03-01T10:00:00Z", "https://x.y/z", "https://x y", "+1 (512) 555-0100", "send_email",
    "abc",
]
# fmt: on
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-10, 10**9)
    | st.sampled_from([0.5, 1.0, 2.5, 0.3, 15.0, 1e300, float("inf")])
    | st.text(max_size=8)
    | st.sampled_from(STRINGS)
)
KEYS = sorted({key for schema in SCHEMAS.values() for key in schema["properties"]})
ITEM_KEYS = ["address", "sold_price", "sold_date", "sqft", "start", "minutes", "x"]
items = st.dictionaries(st.sampled_from(ITEM_KEYS), scalars, max_size=5)
payloads = st.dictionaries(
    st.sampled_from([*KEYS, "x"]),
    scalars | st.lists(items, max_size=3) | items,
    max_size=9,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SCHEMAS)), payload=payloads)
def test_the_fast_path_only_says_valid_when_jsonschema_does(name, payload):
    schema = SCHEMAS[name]
    reference = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    check = compile_check(schema)
    try:
        truth = reference.is_valid(payload)
    except OverflowError:
        truth = False
    if check(payload, None, 0):
        assert truth
    # Provisional: the fast "nothing to report" must agree with the filtered slow path.
    path, _ = _last_path(payload)
    if check(payload, path, 0):
        slow = PayloadValidator(schema)
        slow._certainly_valid = None
        assert slow.provisional_errors(payload) == []


def test_the_fast_path_accepts_typical_valid_payloads():
    check = compile_check(SCHEMAS["listing_card"])
    assert check(LISTING, None, 0)
    assert check({**LISTING, "baths": 2.5, "photo_url": "https://x.y/a.jpg"}, None, 0)
    assert not check({**LISTING, "baths": 2.3}, None, 0)
    assert not check({**LISTING, "beds": True}, None, 0)
