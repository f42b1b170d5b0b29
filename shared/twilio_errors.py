"""Twilio error code -> retryable or permanent, and its meaning: a table, not a chain of ifs.

Codes not in the table are classified by their HTTP status: 429 and 5xx are
retryable, any other 4xx is permanent (an unknown refusal will not change by
asking again). Timeouts and connection errors carry no code and are retryable.

The table also holds the asynchronous codes (30xxx delivery, 63xxx channel)
that status callbacks and delivery receipts report: those come without an
HTTP status, so a code missing here would be taken as retryable.

Retryable means asking again later can succeed: the inline retries, and a
"retry failed" run of the campaign. Permanent means the same send to the same
contact fails the same way until someone changes the data or the account.
"""

from __future__ import annotations

from enum import StrEnum


class Disposition(StrEnum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


RETRYABLE = Disposition.RETRYABLE
PERMANENT = Disposition.PERMANENT

# code -> (disposition, what it means for a person reading a campaign report)
ERROR_TABLE: dict[int, tuple[Disposition, str]] = {
    # ---- Retryable ----------------------------------------------------------
    # Platform (20xxx), answered synchronously.
    20429: (RETRYABLE, "too many requests: a 429'd request is never processed"),
    20500: (RETRYABLE, "internal server error"),
    20503: (RETRYABLE, "service temporarily unavailable"),
    # Programmable Messaging requests (21xxx), synchronous.
    21611: (RETRYABLE, "the From number already has ~10 h of queued messages"),
    21730: (RETRYABLE, "messaging under scheduled maintenance"),
    # Delivery status (30xxx), asynchronous.
    # Backlog, not the message: it drains as the queue is sent.
    30001: (RETRYABLE, "queue overflow"),
    # Usually a phone off or out of coverage; a later run may reach it.
    30003: (RETRYABLE, "destination handset unreachable"),
    # Cause not given; Twilio's advice is to send again. Bounded by max attempts.
    30008: (RETRYABLE, "unknown delivery error"),
    30021: (RETRYABLE, "internal failure in the messaging orchestrator"),
    # Waited in the queue past its validity period: backlog, not the message.
    30036: (RETRYABLE, "validity period expired"),
    30500: (RETRYABLE, "internal error while processing the message"),
    # WhatsApp / channels (63xxx), asynchronous unless noted.
    63010: (RETRYABLE, "internal error on Twilio's channel path"),
    63012: (RETRYABLE, "WhatsApp (the channel provider) had an internal error"),
    63017: (RETRYABLE, "account over its combined messages-per-second limit"),
    63018: (RETRYABLE, "rate limit exceeded for the WhatsApp sender"),
    # The media host may be briefly down; a broken URL fails each bounded try.
    63019: (RETRYABLE, "media could not be fetched"),
    # No cause given; treated like an outage rather than a verdict on the message.
    63023: (RETRYABLE, "generic channel error"),
    # Resets within 24 h: useless inline, right for a later "retry failed" run.
    63038: (RETRYABLE, "account reached its daily message limit"),
    # Meta held back a marketing message to this user for now; later may pass.
    63049: (RETRYABLE, "Meta chose not to deliver this marketing message"),
    # ---- Permanent ----------------------------------------------------------
    # Platform (20xxx).
    20003: (PERMANENT, "authentication failed"),
    # Programmable Messaging requests (21xxx): the request itself is wrong.
    21211: (PERMANENT, "invalid To number"),
    21265: (PERMANENT, "To is a short code"),
    21266: (PERMANENT, "To and From are the same number"),
    21408: (PERMANENT, "sending to this region is not enabled"),
    21602: (PERMANENT, "no body or media given"),
    21603: (PERMANENT, "From missing"),
    21604: (PERMANENT, "To missing"),
    21606: (PERMANENT, "From cannot send to this destination"),
    21608: (PERMANENT, "trial or unverified account: To is not a verified number"),
    21610: (PERMANENT, "recipient unsubscribed (STOP)"),
    # "At this time" in the wording, but it is a routing gap, not a load issue.
    21612: (PERMANENT, "To cannot be reached from this From"),
    21614: (PERMANENT, "To is not a mobile number"),
    21617: (PERMANENT, "body longer than 1600 characters"),
    21619: (PERMANENT, "neither body, media nor content SID given"),
    21635: (PERMANENT, "To is a landline"),
    21654: (PERMANENT, "content variables sent without a content SID"),
    21655: (PERMANENT, "content SID invalid, deleted or of another account"),
    21656: (PERMANENT, "content variables malformed or empty"),
    21658: (PERMANENT, "a parameter (body, variable) exceeds its length limit"),
    21659: (PERMANENT, "From is not a Twilio number, or short code country mismatch"),
    21660: (PERMANENT, "From belongs to another account"),
    21661: (PERMANENT, "From is not SMS-capable"),
    # Delivery status (30xxx).
    30002: (PERMANENT, "account suspended before the message left"),
    30004: (PERMANENT, "message blocked for this destination"),
    30005: (PERMANENT, "destination number unknown or out of service"),
    30006: (PERMANENT, "landline or unreachable carrier"),
    30007: (PERMANENT, "filtered by the carrier as spam or abuse"),
    30019: (PERMANENT, "content larger than the carrier accepts"),
    # WhatsApp / channels (63xxx): sender setup, recipient or content.
    63001: (PERMANENT, "channel could not authenticate (token revoked or rotated)"),
    63002: (PERMANENT, "channel could not find the From address"),
    63003: (PERMANENT, "channel could not find the To address"),
    63005: (PERMANENT, "channel refused the content, or To is not on WhatsApp"),
    63006: (PERMANENT, "content could not be formatted for the channel"),
    63007: (PERMANENT, "no WhatsApp sender configured for From"),
    63008: (PERMANENT, "channel misconfigured in Twilio"),
    63013: (PERMANENT, "violates the channel's policy"),
    63014: (PERMANENT, "recipient blocked the business"),
    63015: (PERMANENT, "recipient has not joined the sandbox"),
    63016: (PERMANENT, "outside the 24 h window, a template is needed"),
    63020: (PERMANENT, "WhatsApp business account not set up to send (Meta side)"),
    63021: (PERMANENT, "content rejected or unsupported by the channel"),
    63022: (PERMANENT, "sender's display-name certificate invalid"),
    63024: (PERMANENT, "invalid WhatsApp recipient"),
    63027: (PERMANENT, "template missing for this language and locale"),
    63028: (PERMANENT, "template variable count does not match"),
    63029: (PERMANENT, "recipient's app cannot receive this message"),
    63030: (PERMANENT, "parameter not supported for this message type"),
    63031: (PERMANENT, "From and To are the same"),
    # Meta keeps this user out of business marketing while the experiment runs.
    63032: (PERMANENT, "recipient is part of a Meta experiment"),
    63034: (PERMANENT, "media larger than the channel's size limit"),
}

ERROR_CODES: dict[int, Disposition] = {code: entry[0] for code, entry in ERROR_TABLE.items()}
# How a report names a failure where the code's own meaning says less than the cause.
REPORT_LABELS: dict[int, str] = {
    63016: "needs a template: a free-form body reaches a contact only within 24 h of "
    "their last message",
    21610: "opted out: the recipient sent STOP",
}
TOO_MANY_REQUESTS = 429
# "Attempt to send to unsubscribed recipient": the number replied STOP at Twilio.
UNSUBSCRIBED_RECIPIENT = 21610


def classify_status(http_status: int | None) -> Disposition:
    """An answer without a known code: no status (timeout, lost connection), 429, 5xx retry."""
    if http_status is None or http_status == TOO_MANY_REQUESTS or http_status >= 500:
        return RETRYABLE
    return PERMANENT


def classify(code: int | None, http_status: int | None) -> Disposition:
    if code is not None and code in ERROR_CODES:
        return ERROR_CODES[code]
    return classify_status(http_status)


def failure_meaning(code: int) -> str:
    if code in REPORT_LABELS:
        return REPORT_LABELS[code]
    entry = ERROR_TABLE.get(code)
    return entry[1] if entry else f"Twilio error {code}"


def is_retryable(code: int | None, http_status: int | None) -> bool:
    return classify(code, http_status) is RETRYABLE
