"""Outcome store adapters: memory.py (one process), sqlite.py (the embedded runtime), table.py
(Azure Table storage). The port is starters.ports.OutcomeStore."""
