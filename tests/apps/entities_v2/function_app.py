"""A counter entity in the style of Microsoft's Python v2 Durable Entities documentation:
driven from HTTP (signal, read) and from an orchestrator (signal, then call)."""

import json
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@myApp.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext) -> None:
    current_value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        amount = context.get_input()
        current_value += amount
    elif operation == "reset":
        current_value = 0
    elif operation == "get":
        context.set_result(current_value)
    elif operation == "fail":
        raise ValueError("the counter refuses")
    context.set_state(current_value)


@myApp.route(route="counter/{entityKey}/add", methods=["POST"])
@myApp.durable_client_input(client_name="client")
async def counter_add(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    entity_id = df.EntityId("Counter", req.route_params["entityKey"])
    amount = int(req.params.get("amount", "1"))
    await client.signal_entity(entity_id, "add", amount)
    return func.HttpResponse(status_code=202)


@myApp.route(route="counter/{entityKey}", methods=["GET"])
@myApp.durable_client_input(client_name="client")
async def counter_read(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    entity_id = df.EntityId("Counter", req.route_params["entityKey"])
    entity_state = await client.read_entity_state(entity_id)
    if not entity_state.entity_exists:
        return func.HttpResponse("no such counter", status_code=404)
    return func.HttpResponse(json.dumps(entity_state.entity_state), mimetype="application/json")


@myApp.orchestration_trigger(context_name="context")
def counter_orchestrator(context: df.DurableOrchestrationContext):
    entity_id = df.EntityId("Counter", context.get_input())
    context.signal_entity(entity_id, "add", 3)
    state = yield context.call_entity(entity_id, "get")
    return state


@myApp.orchestration_trigger(context_name="context")
def counter_tomorrow(context: df.DurableOrchestrationContext):
    entity_id = df.EntityId("Counter", context.get_input())
    yield context.create_timer(context.current_utc_datetime + timedelta(days=1))
    context.signal_entity(entity_id, "add", 1)
    state = yield context.call_entity(entity_id, "get")
    return state


@myApp.orchestration_trigger(context_name="context")
def counter_failure(context: df.DurableOrchestrationContext):
    name, key = context.get_input()
    entity_id = df.EntityId(name, key)
    try:
        yield context.call_entity(entity_id, "fail")
    except Exception as error:
        return f"caught: {error}"
    return "not caught"


@myApp.entity_trigger(context_name="context", entity_name="Journal")
def journal_entity(context: df.DurableEntityContext) -> None:
    entries = context.get_state(list)
    if context.operation_name == "append":
        entries.append(context.get_input())
    elif context.operation_name == "delete":
        context.destruct_on_exit()
        return
    context.set_state(entries)
