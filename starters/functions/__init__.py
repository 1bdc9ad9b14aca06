"""The Functions adapter: the blueprint, the components it builds from settings, the settings.
The only modules that import azure.functions."""
