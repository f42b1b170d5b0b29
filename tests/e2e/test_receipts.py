"""Delivery receipts end to end: the sandbox posts signed status callbacks to the api, the
metrics service folds them into the campaign's funnel, and queue-status shows it."""

from __future__ import annotations

import random
from collections import Counter

import httpx
from twilio.request_validator import RequestValidator

from shared.settings import SANDBOX_AUTH_TOKEN
from shared.status_callback import status_callback_url
from tests.api.test_webhooks import receipt_params
from tests.e2e.test_campaigns import (
    FAST,
    create_campaign,
    ledger,
    start,
    valid_phone,
    wait_finished,
)
from tests.helpers import eventually_sync
from tests.ledger_entries import record_sent_sync

# The sandbox accepts numbers with these endings, then fails them (faults.py).
ASYNC_FAILURES = {
    "0002": ("failed", "63016"),
    "0004": ("failed", "63024"),
    "0005": ("undelivered", "30007"),
}
ZERO_FUNNEL = {"accepted": 0, "sent": 0, "delivered": 0, "read": 0, "failed": 0, "undelivered": 0}


def failing_phone(index: int, suffix: str) -> str:
    return f"+3463{index:03d}{suffix}"


def queue_status(client: httpx.Client, campaign_id: str) -> dict:
    response = client.get(f"/api/campaigns/{campaign_id}/queue-status")
    response.raise_for_status()
    return response.json()["status"]


def funnel_of_ledger(messages: list[dict]) -> tuple[dict, dict]:
    """The funnel and error codes the final statuses in the sandbox's ledger imply."""
    final = Counter(message["status"] for message in messages)
    errors: dict[str, dict[str, int]] = {}
    for message in messages:
        state_code = ASYNC_FAILURES.get(message["to"][-4:])
        if state_code is not None:
            state, code = state_code
            errors.setdefault(state, {}).setdefault(code, 0)
            errors[state][code] += 1
    delivered = final["delivered"] + final["read"]
    funnel = {
        "accepted": len(messages),
        "sent": delivered + final["undelivered"],
        "delivered": delivered,
        "read": final["read"],
        "failed": final["failed"],
        "undelivered": final["undelivered"],
    }
    return funnel, errors


def post_signed(client: httpx.Client, url: str, params: dict[str, str]) -> httpx.Response:
    signature = RequestValidator(SANDBOX_AUTH_TOKEN).compute_signature(url, params)
    return client.post(url, data=params, headers={"X-Twilio-Signature": signature})


def receipt(sid: str, status: str, code: str | None = None) -> dict[str, str]:
    error = {} if code is None else {"ErrorCode": code}
    return receipt_params(sid, status, ChannelPrefix="whatsapp", **error)


def test_the_funnel_matches_the_ledger_and_a_forged_callback_changes_nothing(
    make_system, sandbox_admin
) -> None:
    sandbox_admin.post("/_sandbox/faults", json={"mps": 1_000_000}).raise_for_status()
    system = make_system(public_api=True, **FAST)
    phones = [valid_phone(i) for i in range(40)]
    phones += [failing_phone(i, suffix) for suffix in ASYNC_FAILURES for i in range(2)]
    with system.client() as client:
        campaign = create_campaign(client, "receipts", phones)
        campaign_id = campaign["id"]
        start(client, campaign_id)
        done = wait_finished(client, campaign_id, timeout_s=120)
        assert done["progress"]["success"] == 46  # async failures are accepted first

        def settled() -> dict | None:
            status = queue_status(client, campaign_id)
            messages = ledger(sandbox_admin)
            # Both at rest: every message at the end of its path, and the funnel agreeing.
            if any(m["status"] not in ("read", "failed", "undelivered") for m in messages):
                return None
            expected = funnel_of_ledger(messages)
            return status if (status["funnel"], status["funnelErrorsByCode"]) == expected else None

        status = eventually_sync(settled, timeout_s=60, what="funnel matches the ledger")
        assert status["funnel"] == {
            "accepted": 46,
            "sent": 42,
            "delivered": 40,
            "read": 40,  # WhatsApp messages the sandbox delivers are read at last
            "failed": 4,
            "undelivered": 2,
        }
        assert status["funnelErrorsByCode"] == {
            "failed": {"63016": 2, "63024": 2},
            "undelivered": {"30007": 2},
        }
        reasons = {r["code"]: r for r in status["metrics"]["failureReasons"]}
        assert reasons[63016]["count"] == 2
        assert reasons[63016]["meaning"].startswith("needs a template")
        dashboard = client.get("/api/dashboard/campaign-queue-metrics").json()["metrics"]
        assert dashboard["funnel"] == status["funnel"]
        # Each recipient's row holds how far its message got, written before the funnel.
        rows = client.get(f"/api/campaigns/{campaign_id}/recipients", params={"limit": 100}).json()[
            "recipients"
        ]
        delivered = {r["phone"]: (r["deliveryState"], r["errorCode"]) for r in rows}
        assert delivered == {
            phone: (
                (ASYNC_FAILURES[phone[-4:]][0], int(ASYNC_FAILURES[phone[-4:]][1]))
                if phone[-4:] in ASYNC_FAILURES
                else ("read", None)
            )
            for phone in phones
        }
        # One word each: a failure after Twilio accepted the message is "undelivered".
        assert Counter(r["state"] for r in rows) == {"read": 40, "undelivered": 6}

        # A forged callback: a read message reported failed, signed with the wrong key.
        read_sid = next(m["sid"] for m in ledger(sandbox_admin) if m["status"] == "read")
        url = status_callback_url(system.api_url, campaign_id, "c-x")
        forged_params = receipt(read_sid, "failed", "63016")
        forged = RequestValidator("not-the-token").compute_signature(url, forged_params)
        answer = client.post(url, data=forged_params, headers={"X-Twilio-Signature": forged})
        assert answer.status_code == 403
        assert client.post(url, data=forged_params).status_code == 403
        # A genuine receipt of the same message and status (so on the same partition,
        # behind the forged one had it been published) for another campaign the ledger
        # says it was sent in: once that is folded, the forgery would have been too. The
        # status is new for the message: a repeated one would be ignored as a replay.
        probe_id = create_campaign(client, "probe", [valid_phone(999)])["id"]
        probe_url = status_callback_url(system.api_url, probe_id, "c-x")
        record_sent_sync(
            system.env["REDIS_URL"], system.env["REDIS_KEY_PREFIX"], probe_id, {"c-x": read_sid}
        )
        probe = receipt(read_sid, "failed", "63016")
        assert post_signed(client, probe_url, probe).status_code == 204
        eventually_sync(
            lambda: queue_status(client, probe_id)["funnel"]["failed"] == 1,
            timeout_s=30,
            what="the probe receipt folded",
        )
        after = queue_status(client, campaign_id)
        assert (after["funnel"], after["funnelErrorsByCode"]) == (
            status["funnel"],
            status["funnelErrorsByCode"],
        )


def test_shuffled_signed_receipts_end_in_the_right_state(make_system) -> None:
    system = make_system(**FAST)
    paths = (
        [(["queued", "sent", "delivered", "read"], None)] * 12
        + [(["queued", "sent", "delivered"], None)] * 4
        + [(["queued", "sent", "undelivered"], "30007")] * 3
        + [(["queued", "failed"], "63016")] * 2
        + [(["queued", "sent"], None)] * 1
    )
    receipts = [
        (f"SM{n:032x}", status, code if status in ("failed", "undelivered") else None)
        for n, (path, code) in enumerate(paths)
        for status in path
    ]
    shuffled = random.Random(8).sample(receipts, len(receipts))
    shuffled += random.Random(9).sample(receipts, 20)  # some delivered twice
    with system.client() as client:
        # A draft: the receipts name it, nothing is sent.
        campaign_id = create_campaign(client, "shuffled", [valid_phone(0)])["id"]
        assert queue_status(client, campaign_id)["funnel"] == ZERO_FUNNEL
        # As if sent: the api counts receipts only for SIDs the senders' ledger holds.
        sent = {f"contact-{sid[-4:]}": sid for sid, _, _ in receipts}
        record_sent_sync(system.env["REDIS_URL"], system.env["REDIS_KEY_PREFIX"], campaign_id, sent)
        for sid, status, code in shuffled:
            url = status_callback_url(system.api_url, campaign_id, f"contact-{sid[-4:]}")
            response = post_signed(client, url, receipt(sid, status, code))
            assert response.status_code == 204, response.text

        expected = {
            "accepted": 0,  # nothing of this draft was sent by the system itself
            "sent": 12 + 4 + 3 + 1,
            "delivered": 12 + 4,
            "read": 12,
            "failed": 2,
            "undelivered": 3,
        }

        def settled() -> dict | None:
            status = queue_status(client, campaign_id)
            return status if status["funnel"] == expected else None

        status = eventually_sync(settled, timeout_s=60, what="funnel of the shuffled receipts")
        assert status["funnelErrorsByCode"] == {
            "failed": {"63016": 2},
            "undelivered": {"30007": 3},
        }
