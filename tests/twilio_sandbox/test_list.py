"""GET Messages.json through the official client: filters and paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from twilio.rest import Client

from shared.twilio_client import make_twilio_client

RECIPIENT = "whatsapp:+15550201111"
OTHER_RECIPIENT = "whatsapp:+15550202222"
SENDER_A = "whatsapp:+15550200001"
SENDER_B = "whatsapp:+15550200002"

pytestmark = pytest.mark.usefixtures("clean_sandbox")


@pytest.fixture
def unthrottled(clean_sandbox) -> None:
    clean_sandbox.post("/_sandbox/faults", json={"mps": 1000}).raise_for_status()


def send_many(client: Client, count: int, to: str, from_: str, label: str) -> list[str]:
    return [
        client.messages.create(to=to, from_=from_, body=f"{label}-{i}").sid for i in range(count)
    ]


@pytest.mark.usefixtures("unthrottled")
def test_list_filters_by_to_and_from_newest_first(twilio_client: Client) -> None:
    a_sids = send_many(twilio_client, 3, RECIPIENT, SENDER_A, "a")
    b_sids = send_many(twilio_client, 2, RECIPIENT, SENDER_B, "b")
    send_many(twilio_client, 2, OTHER_RECIPIENT, SENDER_A, "other")

    to_recipient = twilio_client.messages.list(to=RECIPIENT)
    from_a_to_recipient = twilio_client.messages.list(to=RECIPIENT, from_=SENDER_A)
    from_a = twilio_client.messages.list(from_=SENDER_A)

    assert [m.sid for m in to_recipient] == list(reversed(a_sids + b_sids))
    assert [m.sid for m in from_a_to_recipient] == list(reversed(a_sids))
    assert len(from_a) == 5
    assert all(m.from_ == SENDER_A for m in from_a)


@pytest.mark.usefixtures("unthrottled")
def test_list_filters_by_date_sent(twilio_client: Client) -> None:
    sids = send_many(twilio_client, 2, RECIPIENT, SENDER_A, "today")
    now = datetime.now(UTC)
    today = now.date()
    yesterday = today - timedelta(days=1)
    tomorrow = today + timedelta(days=1)

    def listed(**filters) -> list[str]:
        return [m.sid for m in twilio_client.messages.list(to=RECIPIENT, **filters)]

    assert sorted(listed(date_sent=today)) == sorted(sids)
    assert sorted(listed(date_sent=today.isoformat())) == sorted(sids)
    assert listed(date_sent=yesterday) == []
    assert sorted(listed(date_sent_after=now - timedelta(minutes=5))) == sorted(sids)
    assert listed(date_sent_after=now + timedelta(minutes=5)) == []
    assert sorted(listed(date_sent_before=now + timedelta(minutes=5))) == sorted(sids)
    assert listed(date_sent_before=now - timedelta(minutes=5)) == []
    assert listed(date_sent_before=yesterday.isoformat()) == []
    assert sorted(listed(date_sent_before=today.isoformat())) == sorted(sids)
    assert listed(date_sent_after=tomorrow.isoformat()) == []


@pytest.mark.usefixtures("unthrottled")
def test_list_pages_across_page_boundaries(twilio_client: Client) -> None:
    sids = send_many(twilio_client, 7, RECIPIENT, SENDER_A, "paged")
    newest_first = list(reversed(sids))

    listed = twilio_client.messages.list(to=RECIPIENT, page_size=3)
    limited = twilio_client.messages.list(to=RECIPIENT, limit=5, page_size=2)
    streamed = list(twilio_client.messages.stream(to=RECIPIENT, page_size=2))

    assert [m.sid for m in listed] == newest_first
    assert [m.sid for m in limited] == newest_first[:5]
    assert [m.sid for m in streamed] == newest_first


@pytest.mark.usefixtures("unthrottled")
def test_page_navigation_forward_and_back(twilio_client: Client) -> None:
    sids = list(reversed(send_many(twilio_client, 5, RECIPIENT, SENDER_A, "nav")))

    first = twilio_client.messages.page(to=RECIPIENT, page_size=2)
    first_sids = [m.sid for m in first]
    second = first.next_page()
    second_sids = [m.sid for m in second]
    back = second.previous_page()
    third = second.next_page()

    assert first_sids == sids[:2]
    assert first.previous_page_url is None
    assert second_sids == sids[2:4]
    assert [m.sid for m in back] == sids[:2]
    assert [m.sid for m in third] == sids[4:]
    assert third.next_page_url is None


@pytest.mark.usefixtures("unthrottled")
def test_new_messages_do_not_shift_later_pages(twilio_client: Client) -> None:
    sids = list(reversed(send_many(twilio_client, 4, RECIPIENT, SENDER_A, "stable")))
    first = twilio_client.messages.page(to=RECIPIENT, page_size=2)

    send_many(twilio_client, 3, RECIPIENT, SENDER_A, "late")
    second = first.next_page()

    assert [m.sid for m in second] == sids[2:4]


@pytest.mark.asyncio
@pytest.mark.usefixtures("unthrottled")
async def test_async_list_pages(sandbox, twilio_client: Client) -> None:
    sids = list(reversed(send_many(twilio_client, 5, RECIPIENT, SENDER_A, "async")))
    client = make_twilio_client(
        sandbox.account_sid, sandbox.auth_token, sandbox.url, use_async=True
    )
    try:
        listed = await client.messages.list_async(to=RECIPIENT, page_size=2)
        streamed = [m.sid async for m in await client.messages.stream_async(to=RECIPIENT, limit=3)]
    finally:
        await client.http_client.close()

    assert [m.sid for m in listed] == sids
    assert streamed == sids[:3]
