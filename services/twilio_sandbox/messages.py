"""Accepted messages: the ledger, sid generation, status progression and Twilio's resource shape."""

from __future__ import annotations

import secrets
import time
from bisect import bisect_left
from dataclasses import dataclass

from .errors import error_message
from .faults import WHATSAPP_PREFIX

API_VERSION = "2010-04-01"
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

# Status paths a message walks after acceptance, one step per callback delay.
DELIVERED_PATH = ("queued", "sent", "delivered")
# WhatsApp also reports when the recipient read the message; SMS stops at delivered.
WHATSAPP_DELIVERED_PATH = (*DELIVERED_PATH, "read")
UNDELIVERED_PATH = ("queued", "sent", "undelivered")
FAILED_PATH = ("queued", "failed")
PATH_BY_FINAL_STATUS = {
    "delivered": DELIVERED_PATH,
    "undelivered": UNDELIVERED_PATH,
    "failed": FAILED_PATH,
}

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def delivered_path(to: str) -> tuple[str, ...]:
    """The statuses of a message that reaches its recipient, by channel."""
    return WHATSAPP_DELIVERED_PATH if to.startswith(WHATSAPP_PREFIX) else DELIVERED_PATH


def new_message_sid() -> str:
    return "SM" + secrets.token_hex(16)


def rfc2822(epoch_s: int) -> str:
    """Twilio's date format, e.g. 'Wed, 25 Nov 2026 09:31:21 +0000' (locale independent)."""
    t = time.gmtime(epoch_s)
    return (
        f"{_WEEKDAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


@dataclass(slots=True)
class Message:
    seq: int
    sid: str
    from_: str | None
    to: str
    body: str | None
    content_sid: str | None
    content_variables: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    accepted_at_ns: int
    step_delay_ns: int
    status_path: tuple[str, ...]
    final_error_code: int | None

    @property
    def accepted_at_ms(self) -> int:
        return self.accepted_at_ns // NS_PER_MS

    @property
    def sent_epoch_s(self) -> int:
        return self.accepted_at_ns // NS_PER_S

    def step_at(self, now_ns: int) -> int:
        last_step = len(self.status_path) - 1
        if self.step_delay_ns <= 0:
            return last_step
        return min(last_step, max(0, (now_ns - self.accepted_at_ns) // self.step_delay_ns))

    def status_at(self, now_ns: int) -> str:
        return self.status_path[self.step_at(now_ns)]

    def step_due_ns(self, step: int) -> int:
        return self.accepted_at_ns + step * self.step_delay_ns

    def error_code_at_step(self, step: int) -> int | None:
        """Twilio reports the error code only once the message has failed."""
        if step == len(self.status_path) - 1:
            return self.final_error_code
        return None


def message_resource(
    message: Message, account_sid: str, now_ns: int, *, just_created: bool = False
) -> dict[str, object]:
    step = 0 if just_created else message.step_at(now_ns)
    error_code = message.error_code_at_step(step)
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message.sid}"
    accepted_s = message.sent_epoch_s
    updated_s = message.step_due_ns(step) // NS_PER_S
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": message.body or "",
        "date_created": rfc2822(accepted_s),
        "date_sent": rfc2822(accepted_s),
        "date_updated": rfc2822(updated_s),
        "direction": "outbound-api",
        "error_code": error_code,
        "error_message": None if error_code is None else error_message(error_code),
        "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status_path[step],
        "subresource_uris": {
            "media": f"{uri}/Media.json",
            "feedback": f"{uri}/Feedback.json",
        },
        "to": message.to,
        "uri": f"{uri}.json",
    }


def ledger_entry(message: Message, now_ns: int) -> dict[str, object]:
    return {
        "sid": message.sid,
        "from": message.from_,
        "to": message.to,
        "body": message.body,
        "content_sid": message.content_sid,
        "content_variables": message.content_variables,
        "status": message.status_at(now_ns),
        "accepted_at_ms": message.accepted_at_ms,
    }


class MessageStore:
    """Accepted messages in acceptance order, indexed by sid and by recipient."""

    __slots__ = ("_by_sid", "_by_to", "_in_order", "_next_seq")

    def __init__(self) -> None:
        self._in_order: list[Message] = []
        self._by_sid: dict[str, Message] = {}
        self._by_to: dict[str, list[Message]] = {}
        self._next_seq = 0

    def add(
        self,
        *,
        from_: str | None,
        to: str,
        body: str | None,
        content_sid: str | None,
        content_variables: str | None,
        messaging_service_sid: str | None,
        status_callback: str | None,
        accepted_at_ns: int,
        step_delay_ns: int,
        status_path: tuple[str, ...],
        final_error_code: int | None,
    ) -> Message:
        message = Message(
            seq=self._next_seq,
            sid=new_message_sid(),
            from_=from_,
            to=to,
            body=body,
            content_sid=content_sid,
            content_variables=content_variables,
            messaging_service_sid=messaging_service_sid,
            status_callback=status_callback,
            accepted_at_ns=accepted_at_ns,
            step_delay_ns=step_delay_ns,
            status_path=status_path,
            final_error_code=final_error_code,
        )
        self._next_seq += 1
        self._in_order.append(message)
        self._by_sid[message.sid] = message
        recipient_messages = self._by_to.get(to)
        if recipient_messages is None:
            self._by_to[to] = [message]
        else:
            recipient_messages.append(message)
        return message

    def get(self, sid: str) -> Message | None:
        return self._by_sid.get(sid)

    def in_acceptance_order(self, to: str | None = None) -> list[Message]:
        """The live list (ascending seq); callers must not mutate it."""
        if to is None:
            return self._in_order
        return self._by_to.get(to, [])

    def ledger(self, to: str | None = None, since_ms: int | None = None) -> list[Message]:
        messages = self.in_acceptance_order(to)
        if since_ms is None:
            return list(messages)
        # The sandbox clock never goes backwards, so acceptance order is also time order.
        first = bisect_left(messages, since_ms * NS_PER_MS, key=lambda m: m.accepted_at_ns)
        return messages[first:]

    def clear(self) -> None:
        self._in_order = []
        self._by_sid = {}
        self._by_to = {}

    def __len__(self) -> int:
        return len(self._in_order)
