"""The request examples of the OpenAPI document are bodies the API accepts, and the
response examples are what it would answer: each read back by its own model."""

from __future__ import annotations

import json

import pytest

from services.api.routes.live import _stream_example
from services.api.schemas import before_send, campaigns, contacts, drafts, lists, suppressions
from services.api.schemas.examples import REQUESTS, RESPONSES, example_of
from services.api.schemas.status_examples import campaign_queue_status

MODELS = {
    model.__name__: model
    for model in (
        campaigns.CampaignCreate,
        before_send.CampaignPreviewCreate,
        before_send.PreviewCreate,
        before_send.TestSendCreate,
        drafts.CampaignUpdate,
        contacts.ContactCreate,
        lists.ListCreate,
        lists.MembersAdd,
        suppressions.SuppressionCreate,
    )
}


def test_every_request_example_names_a_request_model() -> None:
    assert set(REQUESTS) == set(MODELS)


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_each_request_example_is_accepted(name: str) -> None:
    MODELS[name].model_validate(REQUESTS[name])


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_each_response_example_reads_back_as_its_model(name: str) -> None:
    built = RESPONSES[name]()
    example = example_of(type(built))
    assert example is not None
    assert type(built).model_validate(example) == built


def test_the_stream_example_carries_the_queue_status_example() -> None:
    [data] = [line for line in _stream_example().splitlines() if line.startswith("data: ")]
    event = json.loads(data.removeprefix("data: "))
    assert event["status"] == campaign_queue_status().model_dump(mode="json", by_alias=True)
    assert set(event["live"]) == {"ratePerSecond", "rateLimitPerSecond", "errorKinds"}
