"""The HTTP API without a web framework: request in, status/headers/body out."""
