"""The opt-out list over REST: add, look up, list by page, remove (listing and removing
by an admin); 422 and 404 name the problem."""

from __future__ import annotations

from datetime import datetime

from tests.api.conftest import Api, valid_phone


async def test_add_list_and_remove(api: Api) -> None:
    added = await api.alice.post("/api/suppressions", json={"phone": "+34 611 00 10 00"})
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["phone"], body["reason"]) == ("+34611001000", "api")
    assert datetime.fromisoformat(body["addedAt"])

    again = await api.alice.post("/api/suppressions", json={"phone": "+34611001000"})
    assert again.status_code == 200
    assert again.json() == body

    looked_up = await api.bob.get("/api/suppressions/+34611001000")
    assert looked_up.status_code == 200 and looked_up.json() == body

    listed = (await api.admin.get("/api/suppressions")).json()
    assert (listed["total"], listed["page"], listed["limit"]) == (1, 1, 20)
    assert listed["suppressions"] == [body]

    assert (await api.admin.delete("/api/suppressions/+34611001000")).status_code == 204
    assert (await api.admin.get("/api/suppressions")).json()["total"] == 0
    assert (await api.alice.get("/api/suppressions/+34611001000")).status_code == 404
    # The store the dispatcher reads, keyed by the account: empty again.
    store = api.suppressions
    assert await store.suppressed_among(["+34611001000"]) == set()


async def test_an_added_number_is_suppressed_for_the_account(api: Api) -> None:
    response = await api.bob.post("/api/suppressions", json={"phone": valid_phone(7)})
    assert response.status_code == 201
    store = api.suppressions
    assert await store.suppressed_among([valid_phone(7), valid_phone(8)]) == {valid_phone(7)}
    # One list per account, whoever added the number.
    assert (await api.admin.get("/api/suppressions")).json()["total"] == 1


async def test_an_invalid_phone_is_422_naming_phone(api: Api) -> None:
    for body in ({"phone": "not a phone"}, {"phone": ""}, {}):
        response = await api.alice.post("/api/suppressions", json=body)
        assert response.status_code == 422, body
        assert response.json()["field"] == "phone"
        assert response.json()["message"].startswith("Phone")
    deleted = await api.admin.delete("/api/suppressions/12")
    assert deleted.status_code == 422
    assert deleted.json()["field"] == "phone"


async def test_removing_a_number_not_on_the_list_is_404(api: Api) -> None:
    response = await api.admin.delete(f"/api/suppressions/{valid_phone(3)}")
    assert response.status_code == 404
    assert valid_phone(3) in response.json()["message"]


async def test_pages_newest_first(api: Api) -> None:
    for index in range(5):
        response = await api.alice.post("/api/suppressions", json={"phone": valid_phone(index)})
        assert response.status_code == 201
    # Numbers added in the same transaction time tie; give them distinct ones, oldest first.
    database = api.app.state.connections.database
    for index in range(5):
        await database.execute(
            "UPDATE suppressions SET added_at = now() - make_interval(secs => $2) WHERE phone = $1",
            valid_phone(index),
            float(10 - index),
        )

    pages = [
        (await api.admin.get("/api/suppressions", params={"page": page, "limit": 2})).json()
        for page in (1, 2, 3, 4)
    ]
    assert [p["total"] for p in pages] == [5, 5, 5, 5]
    phones = [[s["phone"] for s in p["suppressions"]] for p in pages]
    assert phones == [
        [valid_phone(4), valid_phone(3)],
        [valid_phone(2), valid_phone(1)],
        [valid_phone(0)],
        [],
    ]
    bad = await api.admin.get("/api/suppressions", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["field"] == "limit"


async def test_a_bearer_token_is_required(api: Api) -> None:
    assert (await api.anonymous.get("/api/suppressions")).status_code == 401
    response = await api.anonymous.post("/api/suppressions", json={"phone": valid_phone(1)})
    assert response.status_code == 401
    assert (await api.anonymous.delete(f"/api/suppressions/{valid_phone(1)}")).status_code == 401
