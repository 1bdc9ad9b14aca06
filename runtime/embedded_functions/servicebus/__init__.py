"""The embedded Service Bus: session queues in SQLite, their REST send API, their triggers."""
