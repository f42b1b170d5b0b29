"""A recipient's CSV row says what its JSON says: the export writes rows without the
JSON model, so this holds the two to one account."""

from __future__ import annotations

from datetime import UTC, datetime

from services.api.routes.recipients import CSV_COLUMNS, _row
from services.api.schemas.recipients import RecipientResultPublic
from shared.store.recipients import RecipientResult

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _as_csv(value: object) -> object:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, datetime) else value


def test_every_column_of_a_row_is_the_json_field_of_its_name() -> None:
    results = [
        RecipientResult(0, "c0", "+34611001000", "Ana", None, None, None, None, None),
        RecipientResult(1, "c1", "+34611001001", None, "sent", None, "SM1", None, AT),
        RecipientResult(
            2, "c2", "+34611001002", "Bo", "sent", None, "SM2", None, AT, "undelivered", 30007, AT
        ),
        RecipientResult(3, "c3", "+34611001003", None, "failed", 63016, None, "no", AT),
        RecipientResult(
            4, "c4", "+34611001004", None, "sent", None, "SM4", None, AT, "read", None, AT
        ),
        RecipientResult(5, "c5", "bad", None, "skipped", None, None, "invalid", AT),
    ]
    for result in results:
        public = RecipientResultPublic.from_result(result).model_dump()
        assert _row(result) == [_as_csv(public[column]) for column in CSV_COLUMNS]
