"""The opt-out list on the real Redis: per account, membership of a batch in one call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.redis import Keys
from shared.store.suppressions import SuppressionStore

ACCOUNT = "AC" + "1" * 32
OTHER_ACCOUNT = "AC" + "2" * 32


async def test_add_remove_and_membership(redis, unique_prefix) -> None:
    store = SuppressionStore(redis, Keys(unique_prefix), ACCOUNT)
    assert await store.add("+34611001000", "inbound_stop")
    assert not await store.add("+34611001000", "api")  # already there: keeps its reason
    assert await store.add("whatsapp:+34611001001", "error_21610")  # kept without the prefix

    among = await store.suppressed_among(["+34611001000", "+34611001001", "+34611009999"])
    assert among == {"+34611001000", "+34611001001"}
    assert await store.suppressed_among([]) == set()

    entry = await store.get("+34611001000")
    assert entry is not None and entry.reason == "inbound_stop"
    assert datetime.now(UTC) - entry.added_at < timedelta(minutes=1)

    assert (await store.remove("+34611001000", "root")).removed
    assert (await store.remove("+34611001000", "root")).reason is None
    assert await store.suppressed_among(["+34611001000"]) == set()
    assert await store.get("+34611001000") is None


async def test_lists_are_per_account(redis, unique_prefix) -> None:
    keys = Keys(unique_prefix)
    await SuppressionStore(redis, keys, ACCOUNT).add("+34611001000", "api")
    other = SuppressionStore(redis, keys, OTHER_ACCOUNT)
    assert await other.suppressed_among(["+34611001000"]) == set()
    assert await other.page(0, 10) == ([], 0)


async def test_pages_newest_first(redis, unique_prefix) -> None:
    store = SuppressionStore(redis, Keys(unique_prefix), ACCOUNT)
    phones = [f"+346110010{n:02d}" for n in range(5)]
    for phone in phones:
        await store.add(phone, "api")
    # Added within one millisecond they tie; order the scores so the test is exact.
    for rank, phone in enumerate(phones):
        await redis.zadd(Keys(unique_prefix)("suppressions", ACCOUNT), {phone: rank})

    first, total = await store.page(0, 2)
    second, _ = await store.page(2, 2)
    last, _ = await store.page(4, 2)
    assert total == 5
    assert [e.phone for e in first + second + last] == phones[::-1]
    assert {e.reason for e in first} == {"api"}
