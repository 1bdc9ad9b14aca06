"""A small Durable Functions app: a reminder that waits, then greets."""

from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def reminder(context: df.DurableOrchestrationContext):
    hours = context.get_input()
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=hours))
    return (yield context.call_activity("greet", "reminder"))


@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    return f"hello from the {name}"
