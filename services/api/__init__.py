"""The REST API: campaigns, contacts, control and dashboards over Redis views and Kafka."""
