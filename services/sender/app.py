"""Wires the sender's parts together. The send loop arrives with the pipeline (issue 3)."""

from shared.runtime import Service


class SenderService(Service):
    name = "sender"
