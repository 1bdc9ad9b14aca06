"""The embedded Durable Functions runtime: state, replay, dispatch and the HTTP API."""
