"""Code shared by every service: settings, event contract, Kafka and Redis helpers."""
