"""STOP and START replies: which inbound messages opt a number out, or back in.

Only a whole message counts (trimmed, any case, accents and end punctuation ignored):
"stop" opts out, "please stop sending the offers" does not, as with Twilio's own
Advanced Opt-Out keywords.
"""

from __future__ import annotations

import string
import unicodedata
from typing import Literal

OptChange = Literal["opt_out", "opt_in"]

OPT_OUT_KEYWORDS = frozenset(
    {
        # Twilio's defaults
        "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE",
        # Spanish
        "BAJA", "CANCELAR", "PARAR", "ALTO", "DETENER", "DESUSCRIBIR",
        # Portuguese, French, German, Italian
        "PARE", "SAIR", "ARRET", "ARRETER", "STOPP", "ABMELDEN", "BASTA",
    }
)  # fmt: skip
OPT_IN_KEYWORDS = frozenset(
    {"START", "UNSTOP", "YES", "ALTA", "SUSCRIBIR", "REANUDAR", "INICIAR", "ANMELDEN"}
)
# Trailing or leading marks a phone keyboard adds: "Stop!", "¡BAJA!", "stop."
_MARKS = string.punctuation + "¡¿ \t\r\n"


def normalise_reply(body: str) -> str:
    """Upper case, without accents or surrounding punctuation: "Arrêt !" -> "ARRET"."""
    decomposed = unicodedata.normalize("NFKD", body.strip())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return bare.strip(_MARKS).upper()


def opt_change(body: str | None) -> OptChange | None:
    """What an inbound message asks for, if it is a STOP or START keyword."""
    if not body:
        return None
    word = normalise_reply(body)
    if word in OPT_OUT_KEYWORDS:
        return "opt_out"
    if word in OPT_IN_KEYWORDS:
        return "opt_in"
    return None
