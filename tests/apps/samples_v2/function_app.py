"""An app in the style of Microsoft's v2 samples: a func.FunctionApp named `main_app`
(not `app`) with a registered df.Blueprint, exercising every supported Durable action."""

import asyncio
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()
attempts: dict[str, int] = {}


@bp.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    name = context.get_input() or "world"
    first = yield context.call_activity("hello", name)
    second = yield context.call_activity("hello_async", first)
    context.set_custom_status({"step": 2})
    return [first, second]


@bp.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    tasks = [context.call_activity("square", n) for n in range(count)]
    results = yield context.task_all(tasks)
    return sum(results)


@bp.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):
    job = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=3)
    result = yield context.call_activity_with_retry("flaky", options, job)
    return result


@bp.orchestration_trigger(context_name="context")
def parallel_retries(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=4)
    jobs = context.get_input()
    results = yield context.task_all(
        [context.call_activity_with_retry("flaky", options, job) for job in jobs]
    )
    after = yield context.call_activity("hello", "after")
    return [results, after]


@bp.orchestration_trigger(context_name="context")
def catches_failure(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("boom", "x")
    except Exception as error:
        return f"caught: {'kaboom' in str(error)}"
    return "not caught"


@bp.orchestration_trigger(context_name="context")
def waits(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    return "woke"


@bp.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    timeout = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    answer = context.wait_for_external_event("approve")
    winner = yield context.task_any([answer, timeout])
    if winner == answer:
        timeout.cancel()
        return {"approved": answer.result}
    return {"approved": None}


@bp.orchestration_trigger(context_name="context")
def two_events(context: df.DurableOrchestrationContext):
    a = yield context.wait_for_external_event("a")
    b = yield context.wait_for_external_event("b")
    return [a, b]


@bp.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    child = yield context.call_sub_orchestrator("sequence", "child", f"{context.instance_id}-c")
    auto = yield context.call_sub_orchestrator("fan_out", 3)
    return {"child": child, "auto": auto}


@bp.orchestration_trigger(context_name="context")
def parent_retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    result = yield context.call_sub_orchestrator_with_retry(
        "flaky_child", options, context.get_input()
    )
    return result


@bp.orchestration_trigger(context_name="context")
def parent_of_flaky(context: df.DurableOrchestrationContext):
    result = yield context.call_sub_orchestrator("flaky_child", context.get_input())
    return {"child": result}


@bp.orchestration_trigger(context_name="context")
def echo(context: df.DurableOrchestrationContext):
    return context.get_input()
    yield  # a generator, as orchestrators are


@bp.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    job = context.get_input()
    result = yield context.call_activity("flaky", job)
    return result


@bp.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input() or 0
    context.set_custom_status({"n": n})
    if n < 3:
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
        context.continue_as_new(n + 1)
        return None
    return n


@bp.orchestration_trigger(context_name="context")
def fails(context: df.DurableOrchestrationContext):
    yield context.call_activity("hello", "x")
    raise ValueError("the orchestrator gave up")


@bp.orchestration_trigger(context_name="context")
def calls_http(context: df.DurableOrchestrationContext):
    result = yield context.call_http("GET", "http://127.0.0.1:9/never")
    return result


@bp.orchestration_trigger(context_name="context")
def slow(context: df.DurableOrchestrationContext):
    yield context.call_activity("sleepy", context.get_input())
    return "done"


@bp.activity_trigger(input_name="name")
def hello(name):
    return f"Hello {name}"


@bp.activity_trigger(input_name="text")
async def hello_async(text):
    await asyncio.sleep(0)
    return text.upper()


@bp.activity_trigger(input_name="n")
def square(n):
    return n * n


@bp.activity_trigger(input_name="job")
def flaky(job):
    key = job["key"]
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] <= job["fail_times"]:
        raise RuntimeError(f"flaky failure {attempts[key]}")
    return {"key": key, "attempts": attempts[key]}


@bp.activity_trigger(input_name="x")
def boom(x):
    raise RuntimeError("kaboom")


@bp.activity_trigger(input_name="seconds")
def sleepy(seconds):
    import time

    time.sleep(seconds)
    return seconds


main_app = func.FunctionApp()
main_app.register_functions(bp)
