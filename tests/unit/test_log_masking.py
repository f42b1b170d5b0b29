"""Secret masking reaches into nested values and covers secrets of any length."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shared import logging as shared_logging
from shared.logging import MASK, configure_logging, mask_secrets, register_secret

NESTED_SECRET = "nested-auth-token-4f1c"
SHORT_SECRET = "k9x"


@pytest.fixture(autouse=True)
def own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    # Secrets are process-wide: these must not mask other tests' log lines.
    monkeypatch.setattr(shared_logging, "_secrets", set())
    monkeypatch.setattr(shared_logging, "_secrets_longest_first", (), raising=False)


def masked(value: object) -> object:
    return mask_secrets(None, "info", {"value": value})["value"]


def test_secrets_inside_dicts_lists_and_tuples_are_masked() -> None:
    register_secret(NESTED_SECRET)
    payload = {
        "request": {"headers": {"Authorization": f"Bearer {NESTED_SECRET}"}},
        "attempts": [("twilio", f"token={NESTED_SECRET}"), {"ok": True, "n": 3}],
        NESTED_SECRET: "as a key",
    }
    event = mask_secrets(None, "info", {"event": "call", "payload": payload})
    assert event["payload"] == {
        "request": {"headers": {"Authorization": f"Bearer {MASK}"}},
        "attempts": [["twilio", f"token={MASK}"], {"ok": True, "n": 3}],
        MASK: "as a key",
    }
    # The caller's own objects are left as they were.
    assert payload["request"]["headers"]["Authorization"] == f"Bearer {NESTED_SECRET}"


def test_a_short_secret_is_masked_too() -> None:
    register_secret(SHORT_SECRET)
    assert masked(f"pin {SHORT_SECRET} used") == f"pin {MASK} used"
    assert masked({"pins": [SHORT_SECRET]}) == {"pins": [MASK]}


def test_a_secret_containing_another_is_masked_whole() -> None:
    register_secret("q7zv")
    register_secret("xx-q7zv-yy-long-secret")
    assert masked("x xx-q7zv-yy-long-secret y") == f"x {MASK} y"


def test_an_object_whose_repr_shows_a_secret_is_masked_and_cycles_end() -> None:
    register_secret(NESTED_SECRET)

    class Client:
        def __repr__(self) -> str:
            return f"Client(token={NESTED_SECRET!r})"

    assert NESTED_SECRET not in str(masked({"client": Client()}))
    loop: list = ["a"]
    loop.append(loop)
    assert masked(loop) == ["a", "[cycle]"]


def test_nested_extra_values_never_reach_the_log_line() -> None:
    register_secret(NESTED_SECRET)
    register_secret(SHORT_SECRET)
    configure_logging("unit")
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    logging.getLogger("unit").warning(
        "twilio call",
        extra={
            "params": {"auth": [NESTED_SECRET, {"pin": SHORT_SECRET}]},
            "pair": (1, SHORT_SECRET),
        },
    )
    line = json.loads(stream.getvalue())
    assert line["params"] == {"auth": [MASK, {"pin": MASK}]}
    assert line["pair"] == [1, MASK]
    assert NESTED_SECRET not in stream.getvalue() and SHORT_SECRET not in stream.getvalue()
