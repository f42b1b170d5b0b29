"""What every API schema shares: the base model, the limits, and the field types of
user-given text.

Naming, for every module of this package: a model the API reads ends in ``Create`` (a
request body and each part of it: ``CampaignCreate``, ``MessageCreate``); a model it
answers with ends in ``Public``, a page of them in the plural (``CampaignsPublic``).
Fields are snake_case in Python and camelCase on the wire.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    TypeAdapter,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from services.api.safe_text import require_safe

# Listings read pages by Redis offset, a 64-bit integer: a page past this is a 422 naming
# `page` rather than an offset Redis rejects. No listing here is that long.
MAX_PAGE = 1_000_000
# WhatsApp's limit on a message body, once personalised for its recipient.
MAX_MESSAGE_CHARS = 1600
# Audience entries in one request. Larger audiences go through the CSV import
# (POST /api/contacts/import) and are then named by contact id, or sent in several
# requests; 20,000 short entries fit in the default 1 MiB body (API_MAX_BODY_BYTES).
MAX_AUDIENCE_ITEMS = 20_000
# Variables per contact, as Twilio's ContentVariables allow: a CSV has as many columns.
MAX_VARS = 100

# Names and variables are one line; a message body may hold line breaks and tabs.
SafeLine = Annotated[str, AfterValidator(require_safe)]
SafeText = Annotated[str, AfterValidator(lambda value: require_safe(value, multiline=True))]
MessageText = Annotated[SafeText, Field(min_length=1, max_length=MAX_MESSAGE_CHARS)]
ContactId = Annotated[str, Field(min_length=1, max_length=128)]
ContactName = Annotated[SafeLine, Field(max_length=256)]
ContactVars = Annotated[dict[SafeLine, SafeLine], Field(max_length=MAX_VARS)]


def _stripped_not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


# What people name a campaign or a list by: one line, not blank, kept without the
# spaces around it.
# The length is checked on the text as given, before the other checks: pydantic words
# it as people expect ("at least 1 character") only there.
ItemName = Annotated[
    str,
    Field(min_length=1, max_length=200),
    AfterValidator(require_safe),
    AfterValidator(_stripped_not_blank),
]


def human_title(name: str, _info: object = None) -> str:
    """``scheduled_at`` -> ``Scheduled at``: pydantic's own title squashes the camelCase
    alias into ``Scheduledat``, which the documentation pages show as the field's name."""
    return name.replace("_", " ").strip().capitalize()


def _add_example(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The model's example (schemas/examples.py), when it is a request or response body."""
    # Imported here: the examples are built from the models of this package.
    from services.api.schemas.examples import example_of

    example = example_of(model)
    if example is not None:
        schema["examples"] = [example]


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; an unknown field is a 422 naming it
    (a typo such as ``scheduleAt`` would otherwise make a draft of a scheduled campaign).
    Field titles read as words (see :func:`human_title`); a body has its example."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        field_title_generator=human_title,
        json_schema_extra=_add_example,
    )


def string_or_object_with_one_of(
    string: Any, *fields: str
) -> classmethod[BaseModel, [CoreSchema, GetJsonSchemaHandler], JsonSchemaValue]:
    """The JSON schema of a model whose validators take a string, or an object with
    exactly one of ``fields`` set: generated from the fields alone, the schema would
    call any object valid and leave the string out."""

    def json_schema(
        _cls: type[BaseModel], core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        reference = handler(core_schema)
        generated = handler.resolve_ref_schema(reference)
        documentation = {
            key: generated.pop(key) for key in ("title", "description") if key in generated
        }
        object_schema = {
            **generated,
            "oneOf": [
                {"required": [field], "properties": {field: {"not": {"type": "null"}}}}
                for field in fields
            ],
        }
        generated.clear()
        generated.update(documentation)
        generated["oneOf"] = [handler(TypeAdapter(string).core_schema), object_schema]
        return reference

    return classmethod(json_schema)
