"""No function app here."""

VALUE = 1
