"""The benchmark's app: a timer-only orchestration (start cost alone) and a one-activity one."""

from datetime import timedelta

import azure.durable_functions as df

bench = df.DFApp()


@bench.orchestration_trigger(context_name="context")
def parked(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return "late"


@bench.orchestration_trigger(context_name="context")
def one_activity(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("echo", context.get_input())
    return result


@bench.activity_trigger(input_name="value")
def echo(value):
    return value
