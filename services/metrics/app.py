"""Wires the metrics service's parts together. The results fold arrives with issue 3."""

from shared.runtime import Service


class MetricsService(Service):
    name = "metrics"
