"""The API's 422 problems in words (services/api/error_words.py), made from the bodies it
really answers: the create schema's own errors through the API's validation handler."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from services.api.error_words import field_words, problem_words
from services.api.errors import _validation_response
from services.api.schemas.campaigns import CampaignCreate


def api_422_body(request: dict) -> dict:
    with pytest.raises(ValidationError) as raised:
        CampaignCreate.model_validate(request)
    errors = [
        {**error, "loc": ("body", *error["loc"])}
        for error in raised.value.errors(include_url=False, include_context=False)
    ]
    return json.loads(_validation_response(errors).body)


def test_each_problem_is_worded_with_its_field_as_a_person_names_it() -> None:
    body = api_422_body(
        {
            "name": "",
            "message": "",
            "contacts": [{"phone": "+34611001000"}, {"phone": ""}],
            "scheduledAt": "tomorrow",
            "priority": "urgent",
        }
    )
    assert [problem["text"] for problem in body["detail"]] == [
        "Name is required",
        "Message is required",
        "Contact 2, phone is required",
        "Schedule is not a date and time (for example 2026-12-24T09:00:00+01:00)",
        "Priority must be low, normal or high",
    ]
    assert body["message"] == "Name is required"
    # Programs keep pydantic's path and words.
    assert body["field"] == "name"
    assert body["detail"][2]["loc"] == ["body", "contacts", 1, "phone"]
    assert body["detail"][2]["msg"].startswith("String should have")


def test_a_missing_field_and_an_empty_audience() -> None:
    body = api_422_body({"message": "Hola", "contacts": []})
    assert [problem["text"] for problem in body["detail"]] == [
        "Name is required",
        "Contacts must have at least one entry",
    ]


@pytest.mark.parametrize(
    ("loc", "words"),
    [
        (("body", "contacts", 0), "Contact 1"),
        (("body", "message", "contentVariables", "1"), "Message, variable {{1}}"),
        (("body", "sendWindow", "start"), "Send window, start"),
        (("query", "search"), "Search"),
        (("body", "phones", 2), "Item 3"),
        ((), "The request"),
    ],
)
def test_field_words(loc: tuple, words: str) -> None:
    assert field_words(loc) == words


def test_a_value_error_keeps_its_own_words_lowercased() -> None:
    problem = {"type": "value_error", "msg": "Value error, Not a valid phone number"}
    assert problem_words(problem) == "not a valid phone number"
