"""The session handler, split by concern: claims, effects, queueing, records, retry, and the
small loop in handler.py."""
