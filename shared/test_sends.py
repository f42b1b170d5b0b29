"""Test sends: a campaign's message sent to a few numbers by hand, never counted in it.

A test send is an ordinary SendMessage on message.commands, flagged ``testSend`` and
given a contact id of its own space (``test-send:<uuid>``), so that it takes the path
of every real send (the senders' shared limiter, the idempotency ledger, the circuit
breaker, the official twilio client) and none of its outcomes can meet a real contact's.
What differs, and why:

- the sender does not ask the campaign's status (a test may go to a draft, a paused or
  a finished campaign), and queues it in a fair-gate lane of its own, so that it never
  waits behind the campaign's own backlog nor is held by its pause;
- no status callback is given to Twilio: delivery receipts would land in the campaign's
  funnel;
- the metrics service folds nothing of an outcome flagged ``testSend`` (no progress, no
  recipient row, no alert tally); only a Twilio opt-out (21610) is still recorded, since
  it is true of the number whoever sent to it.
"""

from __future__ import annotations

import uuid

from shared.events.models import SendMessage

TEST_CONTACT_PREFIX = "test-send:"
_TEST_LANE_PREFIX = "test-send:"


def new_test_contact_id() -> str:
    return f"{TEST_CONTACT_PREFIX}{uuid.uuid4()}"


def lane_of_test_sends(campaign_id: str) -> str:
    """The fair gate's lane for a campaign's test sends (never a campaign id: those have
    no ':')."""
    return f"{_TEST_LANE_PREFIX}{campaign_id}"


def lane_of(command: SendMessage) -> str:
    """The fair gate's lane of a command: its campaign's, or its test sends'."""
    return lane_of_test_sends(command.campaign_id) if command.test_send else command.campaign_id


def is_test_lane(lane: str) -> bool:
    return lane.startswith(_TEST_LANE_PREFIX)
