"""Lists of contacts over the api: made, filled by hand or by CSV import, read, emptied
and deleted by their owner only; and a campaign sent to one, its audience frozen in the
order members joined and checked like an inline one."""

from __future__ import annotations

from tests.api.conftest import Api, valid_phone


async def _contacts(api: Api, count: int, first: int = 0, **extra: object) -> list[str]:
    body = [{"phone": valid_phone(i), "name": f"n{i}", **extra} for i in range(first, count)]
    response = await api.alice.post("/api/contacts", json=body)
    assert response.status_code == 201, response.text
    return [contact["id"] for contact in response.json()["contacts"]]


async def _list(api: Api, name: str = "VIP") -> dict:
    response = await api.alice.post("/api/lists", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_list_is_made_filled_read_and_deleted(api: Api) -> None:
    ids = await _contacts(api, 5)
    made = await _list(api)
    assert (made["name"], made["size"]) == ("VIP", 0)
    url = f"/api/lists/{made['id']}"

    added = await api.alice.post(f"{url}/members", json={"contactIds": [ids[3], ids[1], ids[3]]})
    assert added.json() == {"added": 2, "size": 2}
    again = await api.alice.post(f"{url}/members", json={"contactIds": [ids[1], ids[0]]})
    assert again.json() == {"added": 1, "size": 3}  # ids[1] is on it already
    members = (await api.alice.get(f"{url}/members")).json()
    assert [c["id"] for c in members["contacts"]] == [ids[3], ids[1], ids[0]]
    assert members["total"] == 3
    second_page = (await api.alice.get(f"{url}/members", params={"limit": 2, "page": 2})).json()
    assert [c["id"] for c in second_page["contacts"]] == [ids[0]]

    assert (await api.alice.delete(f"{url}/members/{ids[1]}")).status_code == 204
    gone = await api.alice.delete(f"{url}/members/{ids[1]}")
    assert gone.status_code == 404
    assert gone.json()["message"] == f"contact {ids[1]} is not on list {made['id']}"
    assert (await api.alice.get(url)).json()["size"] == 2
    listed = (await api.alice.get("/api/lists")).json()
    assert [(entry["id"], entry["size"]) for entry in listed["lists"]] == [(made["id"], 2)]

    assert (await api.alice.delete(url)).status_code == 204
    assert (await api.alice.get(url)).status_code == 404
    # The contacts stay.
    assert (await api.alice.get("/api/contacts")).json()["total"] == 5


async def test_names_are_unique_per_user_and_lists_private(api: Api) -> None:
    made = await _list(api, "Newsletter")
    taken = await api.alice.post("/api/lists", json={"name": " Newsletter "})
    assert taken.status_code == 409 and taken.json()["field"] == "name"
    assert (await api.bob.post("/api/lists", json={"name": "Newsletter"})).status_code == 201
    blank = await api.alice.post("/api/lists", json={"name": "  "})
    assert blank.status_code == 422 and blank.json()["field"] == "name"

    url = f"/api/lists/{made['id']}"
    assert (await api.bob.get(url)).status_code == 404
    assert (await api.bob.get(f"{url}/members")).status_code == 404
    assert (await api.bob.delete(url)).status_code == 404
    assert (await api.anonymous.get(url)).status_code == 401
    assert [entry["name"] for entry in (await api.bob.get("/api/lists")).json()["lists"]] == [
        "Newsletter"
    ]
    # Bob's contact cannot join Alice's list, nor hers his.
    bobs = await api.bob.post("/api/contacts", json={"phone": valid_phone(50)})
    bob_contact = bobs.json()["contacts"][0]["id"]
    assert (
        await api.bob.post(f"{url}/members", json={"contactIds": [bob_contact]})
    ).status_code == 404


async def test_adding_an_unknown_contact_adds_nothing_and_names_it(api: Api) -> None:
    ids = await _contacts(api, 2)
    made = await _list(api)
    refused = await api.alice.post(
        f"/api/lists/{made['id']}/members", json={"contactIds": [ids[0], "ct_nope", ids[1]]}
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "contactIds[1]"
    assert (await api.alice.get(f"/api/lists/{made['id']}")).json()["size"] == 0


async def test_a_csv_import_fills_a_list(api: Api) -> None:
    made = await _list(api)
    already = await _contacts(api, 1)
    await api.alice.post(f"/api/lists/{made['id']}/members", json={"contactIds": already})
    rows = "\n".join(f"{valid_phone(i)},n{i}" for i in range(3))
    imported = await api.alice.post(
        "/api/contacts/import",
        params={"listId": made["id"]},
        files={"file": ("people.csv", f"phone,name\n{rows}\nnot-a-phone,x\n", "text/csv")},
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert (body["imported"], body["skipped"], body["addedToList"]) == (3, 1, 2)
    members = (await api.alice.get(f"/api/lists/{made['id']}/members")).json()["contacts"]
    assert [member["phone"] for member in members] == [valid_phone(i) for i in range(3)]

    missing = await api.alice.post(
        "/api/contacts/import",
        params={"listId": "ls_nope"},
        files={"file": ("people.csv", "phone\n+34611001000\n", "text/csv")},
    )
    assert missing.status_code == 404 and missing.json()["listId"] == "ls_nope"
    assert (await api.alice.get("/api/contacts")).json()["total"] == 3  # nothing imported


async def test_a_campaign_to_a_list_freezes_its_members_in_order(api: Api) -> None:
    ids = await _contacts(api, 4)
    made = await _list(api)
    await api.alice.post(
        f"/api/lists/{made['id']}/members", json={"contactIds": [ids[2], ids[0], ids[3]]}
    )
    created = await api.alice.post(
        "/api/campaigns",
        json={"name": "to the VIPs", "message": "Hola {{name}}", "listId": made["id"]},
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["totalContacts"] == 3
    frozen = await api.recipients.page(campaign["id"], 0, 10)
    assert [r.contact_id for r in frozen] == [ids[2], ids[0], ids[3]]
    assert frozen[0].name == "n2"
    # Frozen: a member who leaves later is still in the campaign, not in the list.
    await api.alice.delete(f"/api/lists/{made['id']}/members/{ids[0]}")
    assert await api.recipients.size(campaign["id"]) == 3
    started = await api.alice.post(f"/api/campaigns/{campaign['id']}/start")
    assert started.status_code == 200, started.text


async def test_a_list_audience_is_checked_like_an_inline_one(api: Api) -> None:
    named = await _contacts(api, 2)
    unnamed = await api.alice.post("/api/contacts", json=[{"phone": valid_phone(7)}])
    made = await _list(api)
    await api.alice.post(
        f"/api/lists/{made['id']}/members",
        json={"contactIds": [named[0], unnamed.json()["contacts"][0]["id"], named[1]]},
    )
    body = {"name": "c", "message": "Hola {{name}}", "listId": made["id"]}
    refused = await api.alice.post("/api/campaigns", json=body)
    assert refused.status_code == 422
    assert refused.json()["field"] == "listId" and "name (1 contact)" in refused.json()["message"]
    # Nothing half-written: the campaign does not exist, and no audience was kept.
    assert (await api.alice.get("/api/campaigns")).json()["total"] == 0

    skipped = await api.alice.post("/api/campaigns", json={**body, "missingVars": "skip"})
    assert skipped.status_code == 201, skipped.text
    assert (skipped.json()["totalContacts"], skipped.json()["skippedContacts"]) == (2, 1)

    empty = await _list(api, "empty")
    nobody = await api.alice.post("/api/campaigns", json={**body, "listId": empty["id"]})
    assert nobody.status_code == 422 and "nobody would be sent to" in nobody.json()["message"]
    unknown = await api.alice.post("/api/campaigns", json={**body, "listId": "ls_nope"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "listId"
    both = await api.alice.post(
        "/api/campaigns", json={**body, "contacts": [{"phone": valid_phone(1)}]}
    )
    assert both.status_code == 422 and both.json()["field"] == "listId"
    neither = await api.alice.post("/api/campaigns", json={"name": "c", "message": "Hola"})
    assert neither.status_code == 422 and neither.json()["field"] == "contacts"
