"""The local stack for development and tests: real Kafka, Redis, the sandbox, the services."""
