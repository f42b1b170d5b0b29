"""A campaign's per-recipient results over the api: a page as JSON, all as CSV, only to
the campaign's owner."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from shared.store.recipients import RecipientOutcome, RecipientReceipt
from tests.api.conftest import Api, create_campaign, valid_phone


async def _campaign_with_outcomes(api: Api) -> dict:
    contacts = [{"phone": valid_phone(i), "name": f"n{i}"} for i in range(5)]
    campaign = await create_campaign(api.alice, contacts=contacts)
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    await api.recipients.record_outcomes(
        [
            RecipientOutcome(campaign["id"], 0, "sent", at, message_sid="SM0"),
            RecipientOutcome(campaign["id"], 1, "failed", at, error_code=63016, reason="x, y"),
            RecipientOutcome(campaign["id"], 3, "skipped", at, reason="opted_out"),
        ]
    )
    return campaign


async def test_a_page_of_recipients_with_their_outcomes(api: Api) -> None:
    campaign = await _campaign_with_outcomes(api)
    url = f"/api/campaigns/{campaign['id']}/recipients"
    first = (await api.alice.get(url, params={"limit": 2})).json()
    second = (await api.alice.get(url, params={"limit": 2, "page": 2})).json()
    last = (await api.alice.get(url, params={"limit": 2, "page": 3})).json()
    assert (first["total"], first["page"], first["limit"]) == (5, 1, 2)
    rows = first["recipients"] + second["recipients"] + last["recipients"]
    assert [(r["position"], r["phone"], r["state"]) for r in rows] == [
        (0, valid_phone(0), "sent"),
        (1, valid_phone(1), "failed"),
        (2, valid_phone(2), "pending"),
        (3, valid_phone(3), "skipped"),
        (4, valid_phone(4), "pending"),
    ]
    assert rows[0]["messageSid"] == "SM0" and rows[0]["outcomeAt"].startswith("2026-12-01")
    assert (rows[1]["errorCode"], rows[1]["reason"]) == (63016, "x, y")
    assert rows[2]["outcomeAt"] is None


async def test_all_recipients_as_csv(api: Api) -> None:
    campaign = await _campaign_with_outcomes(api)
    response = await api.alice.get(f"/api/campaigns/{campaign['id']}/recipients.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["position"], r["state"], r["error_code"]) for r in rows] == [
        ("0", "sent", ""),
        ("1", "failed", "63016"),
        ("2", "pending", ""),
        ("3", "skipped", ""),
        ("4", "pending", ""),
    ]
    assert rows[1]["reason"] == "x, y"  # quoted, not split
    assert rows[0]["name"] == "n0" and rows[0]["message_sid"] == "SM0"


async def test_another_users_campaign_is_not_found(api: Api) -> None:
    campaign = await _campaign_with_outcomes(api)
    for suffix in ("recipients", "recipients.csv"):
        url = f"/api/campaigns/{campaign['id']}/{suffix}"
        assert (await api.bob.get(url)).status_code == 404, suffix
        assert (await api.anonymous.get(url)).status_code == 401, suffix


async def test_one_state_per_recipient_joins_outcome_and_receipt_and_filters(api: Api) -> None:
    campaign = await _campaign_with_outcomes(api)
    at = datetime(2026, 12, 1, 9, 45, tzinfo=UTC)
    await api.recipients.record_outcomes(
        [RecipientOutcome(campaign["id"], 2, "sent", at, message_sid="SM2")]
    )
    await api.recipients.record_receipts(
        [
            RecipientReceipt(campaign["id"], 0, "read", at),
            RecipientReceipt(campaign["id"], 2, "undelivered", at, 30007),
        ]
    )
    url = f"/api/campaigns/{campaign['id']}/recipients"
    rows = (await api.alice.get(url)).json()["recipients"]
    assert [(r["state"], r["errorCode"]) for r in rows] == [
        ("read", None),
        ("failed", 63016),
        ("undelivered", 30007),  # failed after Twilio accepted it: the receipt's code
        ("skipped", None),
        ("pending", None),
    ]
    assert rows[2]["errorMeaning"] and rows[2]["deliveryState"] == "undelivered"

    failed = (await api.alice.get(url, params={"state": "failed", "limit": 1})).json()
    assert (failed["total"], [r["position"] for r in failed["recipients"]]) == (1, [1])
    pending = (await api.alice.get(url, params={"state": "pending", "page": 1})).json()
    assert [r["position"] for r in pending["recipients"]] == [4]
    unknown = await api.alice.get(url, params={"state": "lost"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "state"

    export = await api.alice.get(f"{url}.csv", params={"state": "undelivered"})
    exported = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["position"], r["state"], r["error_code"]) for r in exported] == [
        ("2", "undelivered", "30007")
    ]
    assert "undelivered" in export.headers["content-disposition"]
