"""The embedded Functions runtime: serves a Functions app locally as the host would.

`python -m embedded_functions serve` (or the `embedded-functions` command) imports the app's
`function_app.py`, serves its HTTP, Service Bus and timer triggers and the Durable Functions
HTTP API, and runs its orchestrations, activities and entities with state in SQLite.
`embedded_functions.testing` starts it inside a test. See docs/local-runtime.md.
"""
