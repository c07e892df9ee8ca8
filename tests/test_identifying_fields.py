"""The receiver's quick check of a body against what fully parsing it (stdlib json) says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aftercare.stores import MalformedPayloadError
from aftercare.stores.identifying_fields import require_fields

FIXTURES = Path(__file__).parent / "fixtures"
KEYS = ("id", "line_items")


def _by_full_parse(body: bytes, keys: tuple[str, ...]) -> tuple[int, str] | dict[str, object]:
    """The answer the receiver owes, worked out by parsing the whole document as RFC 8259
    JSON: Python's parser also takes NaN and unpaired surrogates, which are not JSON (and
    cannot be stored as UTF-8 text)."""
    try:
        data = json.loads(body, parse_constant=_not_json)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # unpaired surrogates fail here
    except ValueError:  # includes UnicodeDecodeError and UnicodeEncodeError
        return (400, "not JSON")
    if not isinstance(data, dict):
        return (422, "not a JSON object")
    for key in keys:
        if data.get(key) in (None, ""):
            return (422, f"missing {key}")
    return {key: data[key] for key in keys}


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


def _by_quick_check(body: bytes, keys: tuple[str, ...]) -> tuple[int, str] | dict[str, object]:
    try:
        found = require_fields(body, keys, "orders/create")
    except MalformedPayloadError as exc:
        for reason in (
            "not JSON",
            "not JSON (not UTF-8)",
            "not a JSON object",
            *(f"missing {k}" for k in keys),
        ):
            if str(exc).endswith(reason):
                return (exc.status, reason.removesuffix(" (not UTF-8)"))
        raise
    return {key: json.loads(text) for key, text in found.items()}


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 1, "line_items": []}',
        b'{"id": "gid://shopify/Order/1", "line_items": [{"id": 2}], "note": null}',
        b'{"line_items": [1], "id": 7, "id": 8}',  # a repeated key: the last one counts
        b' \n{"id" : 1 ,\t"line_items" : {"a": [1, {"b": "}"}]}} \n',
        b'{"id": 0, "line_items": false}',  # present, only null and "" are missing
        b'{"id": null, "line_items": []}',
        b'{"id": "", "line_items": []}',
        b'{"id": 1}',
        b"{}",
        b"[]",
        b'"an order"',
        b"42",
        b"null",
        b"",
        b"{",
        b'{"id": 1, "line_items": [}',
        b'{"id": 1} trailing',
        b'{"id": 1, "line_items": [], }',
        b"{'id': 1}",
        b'{"id": NaN, "line_items": []}',
        b'{"id": 1, "line_items": ["\xff"]}',  # not UTF-8, in a field not looked into
        b'{"id": 1, "note": "\xc3\xa9t\xc3\xa9", "line_items": []}',  # UTF-8
        b'{"id": "\\ud800", "line_items": []}',  # an unpaired surrogate
        b'{"id": 1, "line_items": ["\\ud83d\\ude00"]}',  # a pair: one emoji
        b'{"id": 1, "line_items": ["\\udc00 x"]}',  # unpaired, in a field not looked into
    ],
)
def test_the_quick_check_answers_as_parsing_everything_would(body: bytes) -> None:
    assert _by_quick_check(body, KEYS) == _by_full_parse(body, KEYS)


@pytest.mark.parametrize(
    "fixture",
    sorted(p.relative_to(FIXTURES) for p in FIXTURES.glob("*/*.json")),
    ids=str,
)
def test_every_sample_payload_gets_the_same_answer_both_ways(fixture: Path) -> None:
    body = (FIXTURES / fixture).read_bytes()
    for keys in (("id",), ("id", "line_items"), ("order_id", "status"), ("not-an-identifier",)):
        assert _by_quick_check(body, keys) == _by_full_parse(body, keys)


def test_a_body_nested_too_deeply_is_a_bad_request_not_a_crash() -> None:
    body = b'{"id": 1, "line_items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(MalformedPayloadError) as refused:
        require_fields(body, KEYS, "orders/create")
    assert refused.value.status == 400 and "nested too deeply" in str(refused.value)


def test_the_message_names_the_topic_and_the_missing_field() -> None:
    with pytest.raises(MalformedPayloadError) as refused:
        require_fields(b'{"id": 5}', ("id", "order_id"), "refunds/create")
    assert str(refused.value) == "the refunds/create payload is missing order_id"
    assert refused.value.status == 422
