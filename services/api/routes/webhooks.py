"""Twilio's webhooks: delivery receipts and inbound messages.

Twilio calls these, so they take no bearer token: a request counts only when its
X-Twilio-Signature matches (services/api/webhook_signature.py), otherwise it gets a
403 and nothing is published or changed. Not in the OpenAPI document: they are
Twilio's contract, not the REST API's.

A signed request can still be replayed, or name a message we never sent: a receipt
counts once per (MessageSid, MessageStatus), an inbound message once per SID, for
REPLAY_WINDOW_S; a receipt counts only for the SID the senders' ledger recorded for
its campaign and contact. Others are acknowledged (Twilio would retry an error) and
dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import IntEnum

import orjson
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from services.api.deps import ConnectionsDep, KeysDep, SettingsDep, SuppressionStoreDep
from services.api.errors import EventNotWritten, InvalidInput
from services.api.opt_out_keywords import opt_change
from services.api.settings import ApiSettings
from services.api.webhook_signature import WebhookSecrets, signed_url
from shared.events import encode
from shared.events.models import MessageStatusReported
from shared.phones import normalise_phone
from shared.redis import Keys
from shared.runtime import Connections
from shared.send_ledger import SENT_SID_FUNCTION, ledger_key
from shared.status_callback import INBOUND_PATH, STATUS_PATH, message_of, position_of
from shared.topics import Topics

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"], include_in_schema=False)
SOURCE = "/services/api/webhooks"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Twilio retries a webhook for hours at most; a day covers every retry and replay of it.
REPLAY_WINDOW_S = 24 * 60 * 60

# KEYS[1]: the campaign's ledger, KEYS[2]: the receipt's seen-key. ARGV: contact, sid,
# window. 0: not a SID the ledger holds for the contact; 1: seen before; 2: first time.
# An unknown SID leaves no seen-key, so it cannot shadow the genuine receipt.
_SIGHT_RECEIPT = (
    SENT_SID_FUNCTION
    + """
if sent_sid(redis.call('HGET', KEYS[1], ARGV[1])) ~= ARGV[2] then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then return 2 end
return 1
"""
)


class NotFromTwilio(Exception):
    """A webhook request whose signature does not match: answered 403, never acted on."""


async def signed_params(request: Request, settings: ApiSettings) -> dict[str, str]:
    """Every parameter of a request Twilio signed, one value per name (all are checked).

    Raises NotFromTwilio when the signature is missing or does not match.
    """
    shared_key = settings.twilio_webhook_shared_key_secret
    secrets = WebhookSecrets(
        auth_token=settings.twilio_credentials[1],
        shared_key_secret=shared_key.get_secret_value() if shared_key else None,
    )
    url = signed_url(
        settings.public_base_url, str(request.url), request.url.path, request.url.query
    )
    if request.headers.get("content-type", "").startswith("application/json"):
        if "bodySHA256" not in request.query_params:
            raise NotFromTwilio("a JSON body without bodySHA256")
        return _json_params(secrets, url, await request.body(), request.headers)
    form = await request.form()
    if any(not isinstance(value, str) for _, value in form.multi_items()):
        raise NotFromTwilio("a file upload")  # Twilio posts plain forms
    if not secrets.is_genuine(url, form, request.headers):  # type: ignore[arg-type]
        raise NotFromTwilio("signature does not match")
    return {name: str(form[name]) for name in form}


def _json_params(
    secrets: WebhookSecrets, url: str, body: bytes, headers: Mapping[str, str]
) -> dict[str, str]:
    # Signed through the bodySHA256 query parameter, which covers the raw body.
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise NotFromTwilio("a body that is not UTF-8") from None
    if not secrets.is_genuine(url, text, headers):
        raise NotFromTwilio("signature does not match")
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidInput(("body",), "expected a JSON object", None)
    return {name: str(value) for name, value in parsed.items() if value is not None}


def _forbidden(reason: str) -> JSONResponse:
    message = "not a genuine Twilio request: invalid X-Twilio-Signature"
    return JSONResponse(
        {"detail": f"{message} ({reason})", "message": message},
        status_code=status.HTTP_403_FORBIDDEN,
    )


def _required(params: Mapping[str, str], *names: str) -> str:
    for name in names:
        if params.get(name):
            return params[name]
    raise InvalidInput(("body", names[0]), "required", None)


def receipt_from(params: Mapping[str, str], query: Mapping[str, str]) -> MessageStatusReported:
    """The receipt a status callback reports; campaign and contact come from its URL."""
    campaign_id, contact_id = message_of(query)
    raw_code = params.get("ErrorCode", "").strip()
    return MessageStatusReported(
        message_sid=_required(params, "MessageSid", "SmsSid"),
        status=_required(params, "MessageStatus", "SmsStatus").lower(),
        campaign_id=campaign_id,
        contact_id=contact_id,
        position=position_of(query),
        error_code=int(raw_code) if raw_code.isdigit() else None,
        error_message=params.get("ErrorMessage") or None,
        to=params.get("To") or None,
        account_sid=params.get("AccountSid") or None,
    )


class Sighting(IntEnum):
    NOT_OURS = 0
    REPLAYED = 1
    FIRST = 2


async def _sight_receipt(
    redis: Redis, keys: Keys, receipt: MessageStatusReported, seen_key: str
) -> Sighting:
    if not (receipt.campaign_id and receipt.contact_id):
        return Sighting.NOT_OURS
    # EVALSHA: the script's text travels only when Redis has not seen it yet.
    sight = redis.register_script(_SIGHT_RECEIPT)
    answer = await sight(
        keys=[ledger_key(keys, receipt.campaign_id), seen_key],
        args=[receipt.contact_id, receipt.message_sid, REPLAY_WINDOW_S],
    )
    return Sighting(int(answer))


async def _first_sighting(redis: Redis, keys: Keys, *parts: str) -> bool:
    return bool(await redis.set(keys("webhook", *parts), 1, nx=True, ex=REPLAY_WINDOW_S))


async def _publish(
    connections: Connections, settings: ApiSettings, receipt: MessageStatusReported
) -> None:
    value, headers = encode(receipt, source=SOURCE)
    try:
        # Keyed by message: one message's receipts stay in order on one partition.
        await connections.producer.send_and_wait(
            Topics.from_settings(settings).message_status,
            value,
            key=receipt.message_sid.encode(),
            headers=headers,
        )
    except KafkaError as error:
        raise EventNotWritten(f"receipt {receipt.message_sid}: {error}") from error


@router.post(STATUS_PATH, status_code=status.HTTP_204_NO_CONTENT)
async def twilio_status_callback(
    request: Request, settings: SettingsDep, connections: ConnectionsDep, keys: KeysDep
) -> Response:
    """A delivery receipt: published on message.status once Kafka has it, for the funnel."""
    try:
        params = await signed_params(request, settings)
    except NotFromTwilio as error:
        log.warning("status callback refused", extra={"reason": str(error)})
        return _forbidden(str(error))
    receipt = receipt_from(params, request.query_params)
    seen_key = keys("webhook", "status", receipt.message_sid, receipt.status)
    sighting = await _sight_receipt(connections.redis, keys, receipt, seen_key)
    if sighting is Sighting.NOT_OURS:
        log.info("receipt for a message we did not send", extra={"sid": receipt.message_sid})
    elif sighting is Sighting.REPLAYED:
        log.info("receipt replayed", extra={"sid": receipt.message_sid, "status": receipt.status})
    else:
        try:
            await _publish(connections, settings, receipt)
        except EventNotWritten:
            # Twilio retries on the error answer: that retry must not look like a replay.
            await connections.redis.delete(seen_key)
            raise
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(INBOUND_PATH)
async def twilio_inbound_message(
    request: Request,
    settings: SettingsDep,
    connections: ConnectionsDep,
    keys: KeysDep,
    suppressions: SuppressionStoreDep,
) -> Response:
    """A message to one of our numbers: STOP keywords opt its sender out, START back in."""
    try:
        params = await signed_params(request, settings)
    except NotFromTwilio as error:
        log.warning("inbound message refused", extra={"reason": str(error)})
        return _forbidden(str(error))
    sid = _required(params, "MessageSid", "SmsMessageSid", "SmsSid")
    if not await _first_sighting(connections.redis, keys, "inbound", sid):
        log.info("inbound message replayed", extra={"sid": sid})
        return Response(EMPTY_TWIML, media_type="text/xml")
    change = opt_change(params.get("Body"))
    phone = normalise_phone(params.get("From", ""))
    if change is not None and phone is not None:
        if change == "opt_out":
            changed = await suppressions.add(phone, "inbound_stop", actor="recipient")
        else:
            # START undoes the recipient's own STOP only: an operator's entry (api) or
            # Twilio's (error_21610...) stays until an admin lifts it.
            lifted = await suppressions.remove(
                phone, "recipient", lifts=lambda reason: reason == "inbound_stop"
            )
            changed = lifted.removed
        log.info("opt-out keyword", extra={"change": change, "changed": changed})
    # Nothing to say back: Twilio itself answers STOP on numbers with Advanced Opt-Out.
    return Response(EMPTY_TWIML, media_type="text/xml")
