"""Which inbound messages opt a number out or back in: the whole message, any case."""

from __future__ import annotations

import pytest

from services.api.opt_out_keywords import normalise_reply, opt_change


@pytest.mark.parametrize(
    "body",
    [
        "STOP", "stop", " Stop \n", "Stop!", "stop.", "STOPALL", "unsubscribe", "Cancel",
        "END", "quit", "BAJA", "¡Baja!", "cancelar", "Parar", "alto", "Arrêt", "ARRET",
    ],
)  # fmt: skip
def test_stop_keywords_opt_out(body: str) -> None:
    assert opt_change(body) == "opt_out"


@pytest.mark.parametrize("body", ["START", "start", " Unstop ", "ALTA", "yes"])
def test_start_keywords_opt_back_in(body: str) -> None:
    assert opt_change(body) == "opt_in"


@pytest.mark.parametrize(
    "body",
    [None, "", "   ", "please stop", "stop it", "STOP STOP", "stopp!!x", "hola", "start now"],
)
def test_other_messages_change_nothing(body: str | None) -> None:
    assert opt_change(body) is None


def test_normalised_reply_drops_accents_case_and_marks() -> None:
    assert normalise_reply("  ¿Arrêt?  ") == "ARRET"
