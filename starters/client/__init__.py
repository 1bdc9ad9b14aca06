"""The producer side: StartRequestSender (producer.py), the app client, dead-letter tools and the
command line. Nothing here loads the Functions or Durable SDKs."""
