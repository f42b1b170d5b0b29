"""What a campaign report says about a Twilio error code."""

from __future__ import annotations

from shared.twilio_errors import ERROR_TABLE, failure_meaning


def test_63016_reads_as_needs_a_template() -> None:
    assert failure_meaning(63016).startswith("needs a template")


def test_every_known_code_has_a_meaning_and_unknown_ones_name_the_code() -> None:
    assert all(failure_meaning(code) for code in ERROR_TABLE)
    assert failure_meaning(21211) == "invalid To number"
    assert failure_meaning(12345) == "Twilio error 12345"
