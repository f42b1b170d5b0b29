"""campaignctl sends missingVars only when asked: the API refuses unknown fields, and
its default (error) is then the API's."""

from __future__ import annotations

from campaignctl.audience import campaign_body


def test_missing_vars_is_sent_only_when_given() -> None:
    assert "missingVars" not in campaign_body("n", "hi", ["c1"], [], None, "normal")
    body = campaign_body("n", "hi", ["c1"], [], None, "normal", missing_vars="skip")
    assert body["missingVars"] == "skip"
