"""Contacts: JSON upserts by phone, CSV import with row errors, paging, ownership."""

from __future__ import annotations

from tests.api.conftest import Api, valid_phone


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
