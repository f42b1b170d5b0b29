"""Contacts: JSON upserts by phone, CSV import with row errors, paging, ownership."""

from __future__ import annotations

import orjson

from services.api.settings import ApiSettings
from shared.redis import Keys
from tests.api.conftest import API_TOKENS, Api, serving, valid_phone


async def test_same_phone_updates_the_stored_contact(api: Api) -> None:
    first = await api.alice.post("/api/contacts", json={"phone": "+34 612 345 678", "name": "A"})
    assert first.status_code == 201, first.text
    (contact,) = first.json()["contacts"]
    again = await api.alice.post(
        "/api/contacts", json=[{"phone": "+34612345678", "name": "B", "vars": {"k": "v"}}]
    )
    body = again.json()
    assert (body["created"], body["updated"]) == (0, 1)
    assert body["contacts"][0]["id"] == contact["id"]
    listed = (await api.alice.get("/api/contacts")).json()
    assert listed["total"] == 1
    assert listed["contacts"] == [
        {"id": contact["id"], "phone": "+34612345678", "name": "B", "vars": {"k": "v"}}
    ]
    assert (await api.bob.get("/api/contacts")).json()["total"] == 0


async def test_invalid_phone_in_a_list_is_422_naming_the_item(api: Api) -> None:
    response = await api.alice.post(
        "/api/contacts", json=[{"phone": valid_phone(0)}, {"phone": "not a phone"}]
    )
    assert response.status_code == 422
    assert response.json()["field"] == "[1].phone"
    assert (await api.alice.get("/api/contacts")).json()["total"] == 0


async def test_csv_import_reports_bad_rows_with_their_line(api: Api) -> None:
    text = (
        "Name,Phone,City\n"
        f"Ana,{valid_phone(0)},Vigo\n"
        "Bad,12345,Lugo\n"
        "\n"
        "Empty,,Ourense\n"
        '"Multi\nline",(415) 555-2671,\n'
        f"Ana again,{valid_phone(0)},Pontevedra\n"
    )
    response = await api.alice.post(
        "/api/contacts/import", files={"file": ("c.csv", text.encode(), "text/csv")}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["imported"], report["created"], report["updated"]) == (2, 1, 1)
    assert report["skipped"] == 3
    assert [e["row"] for e in report["errors"]] == [3, 5, 6]
    assert "12345" in report["errors"][0]["message"]
    # A quoted field over two lines is refused, not read: an unterminated quote would
    # otherwise swallow the rows after it without a word.
    assert "line 6 to line 7" in report["errors"][2]["message"]
    contacts = (await api.alice.get("/api/contacts", params={"limit": 10})).json()["contacts"]
    assert [(c["name"], c["phone"], c["vars"]) for c in contacts] == [
        ("Ana again", valid_phone(0), {"City": "Pontevedra"}),
    ]


async def test_a_csv_read_in_small_chunks_gives_the_same_report_and_contacts(
    make_settings, redis, database
) -> None:
    # Chunks of two rows: each is read while the one before is written, and bad rows,
    # unreadable ones and a phone given twice fall on both sides of chunk borders.
    settings = make_settings(ApiSettings, api_tokens=API_TOKENS, contacts_import_chunk=2)
    rows = [f"C{i},{valid_phone(i)}" for i in range(9)]
    rows[2] = "Bad,12345"
    rows[5] = '"Multi\nline",(415) 555-2671'
    rows.append(f"C1 again,{valid_phone(1)}")
    text = "Name,Phone\n" + "\n".join(rows) + "\nLast,\n"
    async with serving(settings, redis) as api:
        response = await api.alice.post(
            "/api/contacts/import", files={"file": ("c.csv", text.encode(), "text/csv")}
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["imported"], report["created"], report["updated"]) == (8, 7, 1)
        assert [e["row"] for e in report["errors"]] == [4, 7, 13]
        listed = (await api.alice.get("/api/contacts", params={"limit": 20})).json()
        assert sorted(c["name"] for c in listed["contacts"]) == [
            "C0", "C1 again", "C3", "C4", "C6", "C7", "C8"
        ]  # fmt: skip


async def test_csv_without_a_phone_column_is_422(api: Api) -> None:
    response = await api.alice.post(
        "/api/contacts/import", files={"file": ("c.csv", b"name,mobile\nA,1\n", "text/csv")}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "file"


async def test_only_the_first_twenty_row_errors_are_listed(api: Api) -> None:
    lines = ["phone"] + ["bad"] * 25 + [valid_phone(1)]
    response = await api.alice.post(
        "/api/contacts/import",
        files={"file": ("c.csv", "\n".join(lines).encode(), "text/csv")},
    )
    report = response.json()
    assert (report["imported"], report["skipped"], len(report["errors"])) == (1, 25, 20)
    assert report["errors"][0]["row"] == 2 and report["errors"][-1]["row"] == 21


async def test_a_phone_given_twice_in_one_request_is_one_contact(api: Api) -> None:
    phone = valid_phone(7)
    response = await api.alice.post(
        "/api/contacts", json=[{"phone": phone, "name": "first"}, {"phone": phone, "name": "last"}]
    )
    body = response.json()
    assert (body["created"], body["updated"]) == (1, 1)
    assert body["contacts"][0]["id"] == body["contacts"][1]["id"]
    listed = (await api.alice.get("/api/contacts")).json()
    assert [(c["phone"], c["name"]) for c in listed["contacts"]] == [(phone, "last")]


async def test_the_same_phone_is_a_contact_of_each_owner_apart(api: Api) -> None:
    phone = valid_phone(8)
    mine = (await api.alice.post("/api/contacts", json={"phone": phone, "name": "A"})).json()
    theirs = (await api.bob.post("/api/contacts", json={"phone": phone, "name": "B"})).json()
    assert mine["created"] == theirs["created"] == 1
    assert mine["contacts"][0]["id"] != theirs["contacts"][0]["id"]
    # Bob cannot start a campaign on Alice's contact by its id.
    refused = await api.bob.post(
        "/api/campaigns",
        json={"name": "c", "message": "hi", "contacts": [mine["contacts"][0]["id"]]},
    )
    assert refused.status_code == 422, refused.text
    assert mine["contacts"][0]["id"] in refused.text
    assert [c["name"] for c in (await api.alice.get("/api/contacts")).json()["contacts"]] == ["A"]


async def test_contacts_kept_in_redis_before_move_with_their_ids_and_order(
    make_settings, redis, database
) -> None:
    settings = make_settings(ApiSettings, api_tokens=API_TOKENS)
    keys = Keys(settings.redis_key_prefix)
    stored = {"ct_second": valid_phone(2), "ct_first": valid_phone(1)}
    for contact_id, phone in stored.items():
        body = {"phone": phone, "name": contact_id, "vars": {"tier": "gold"}}
        await redis.hset(keys("contacts", "alice", "data"), contact_id, orjson.dumps(body))
        await redis.hset(keys("contacts", "alice", "phones"), phone, contact_id)
    await redis.zadd(keys("contacts", "alice", "order"), {"ct_first": 1, "ct_second": 2})
    await redis.set(keys("contacts", "alice", "seq"), 2)

    async with serving(settings, redis) as api:
        listed = (await api.alice.get("/api/contacts")).json()
        assert [(c["id"], c["phone"], c["vars"]) for c in listed["contacts"]] == [
            ("ct_first", valid_phone(1), {"tier": "gold"}),
            ("ct_second", valid_phone(2), {"tier": "gold"}),
        ]
        again = await api.alice.post("/api/contacts", json={"phone": valid_phone(1)})
        assert again.json()["contacts"][0]["id"] == "ct_first"
    assert [key async for key in redis.scan_iter(match=keys("contacts", "*"))] == []
    assert await database.fetchval("SELECT count(*) FROM contacts") == 2


async def test_search_finds_by_phone_prefix_or_name_and_only_your_own(api: Api) -> None:
    contacts = [
        {"phone": valid_phone(1), "name": "Ana García"},
        {"phone": valid_phone(2), "name": "Bea 100%"},
        {"phone": valid_phone(3), "name": "Carlos"},
    ]
    assert (await api.alice.post("/api/contacts", json=contacts)).status_code == 201
    assert (
        await api.bob.post("/api/contacts", json=[{"phone": valid_phone(4), "name": "Ana"}])
    ).status_code == 201

    async def found(client, search: str) -> list[str]:
        response = await client.get("/api/contacts", params={"search": search})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["contacts"])
        return [c["name"] for c in body["contacts"]]

    assert await found(api.alice, "ana") == ["Ana García"]  # any case; bob's Ana is his
    everyone = ["Ana García", "Bea 100%", "Carlos"]
    assert await found(api.alice, valid_phone(3)[:-1]) == everyone  # a start they share
    assert await found(api.alice, valid_phone(3)) == ["Carlos"]
    assert await found(api.alice, valid_phone(3).lstrip("+")) == ["Carlos"]  # + optional
    assert await found(api.alice, "100%") == ["Bea 100%"]  # % is text, not a wildcard
    assert await found(api.alice, "_") == []
    assert (await api.alice.get("/api/contacts", params={"search": ""})).status_code == 422
