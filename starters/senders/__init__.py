"""Queue sender adapters: servicebus.py (Azure Service Bus), rest.py (the embedded queue's REST
API). The port is starters.ports.QueueSender."""
