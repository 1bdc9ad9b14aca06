"""The embedded runtime: serves a Functions app locally as the host would.

`python -m emulator serve` imports `function_app.py`, serves the Durable Functions HTTP API
and runs the app's orchestrations and activities with state in SQLite. See README.md.
"""
