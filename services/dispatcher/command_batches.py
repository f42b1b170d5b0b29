"""Commands into message.commands records: cut into batches, each under its own key.

A record carries up to ``per_record`` commands of one campaign (SendMessageBatch): one
record each would cost a produce and a consume per contact. Each record gets its own
key so that a campaign spreads over every partition, and so over every sender replica.
How the key is made depends on where the commands come from (``by_position`` for a
batch expanded from the audience, ``by_first_contact`` for commands held and released).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared.events.models import Event, SendMessage, SendMessageBatch

# The key of a record from the offset of its first command in the list, and that command.
RecordKey = Callable[[int, SendMessage], str]


def command_records(
    campaign_id: str, commands: Sequence[SendMessage], per_record: int, key: RecordKey
) -> list[tuple[bytes, Event]]:
    """(key, SendMessageBatch) records of ``per_record`` commands each, in order."""
    records: list[tuple[bytes, Event]] = []
    for start in range(0, len(commands), per_record):
        chunk = list(commands[start : start + per_record])
        batch = SendMessageBatch(
            campaign_id=campaign_id, batch_index=chunk[0].batch_index, commands=chunk
        )
        records.append((key(start, chunk[0]).encode(), batch))
    return records


def by_position(campaign_id: str, batch_index: int) -> RecordKey:
    """Keys for a batch expanded from the audience: its place in the campaign."""
    return lambda start, _first: f"{campaign_id}:{batch_index}:{start}"


def by_first_contact(campaign_id: str, origin: str) -> RecordKey:
    """Keys for released commands, which come a few at a time: their first contact, so
    that they spread over the partitions like fresh ones."""
    return lambda _start, first: f"{campaign_id}:{origin}:{first.contact_id}"
