"""For the local-host tests: queue triggers, HTTP routes and a timer that record calls."""

import asyncio
import json
import time

import azure.functions as func

host_app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
calls: list[dict] = []
dead: list[dict] = []
ticks: list[float] = []


@host_app.service_bus_queue_trigger(
    arg_name="msg",
    connection="ServiceBusConnection",
    queue_name="%WORK_QUEUE%",
    is_sessions_enabled=True,
)
async def work(msg: func.ServiceBusMessage) -> None:
    job = json.loads(msg.get_body())
    entry = {
        "session": msg.session_id,
        "n": job["n"],
        "start": time.monotonic(),
        "delivery": msg.delivery_count,
    }
    calls.append(entry)
    await asyncio.sleep(job.get("sleep", 0))
    entry["end"] = time.monotonic()
    if job.get("fail_until", 0) >= msg.delivery_count:
        raise RuntimeError(f"failing delivery {msg.delivery_count}")


@host_app.service_bus_queue_trigger(
    arg_name="msg", connection="ServiceBusConnection", queue_name="plain"
)
def plain(msg: func.ServiceBusMessage) -> None:
    calls.append(
        {
            "plain": msg.get_body().decode(),
            "delivery": msg.delivery_count,
            "props": dict(msg.application_properties),
        }
    )
    raise RuntimeError("always fails")


@host_app.service_bus_queue_trigger(
    arg_name="msg", connection="ServiceBusConnection", queue_name="plain/$DeadLetterQueue"
)
def plain_dead(msg: func.ServiceBusMessage) -> None:
    dead.append({"body": msg.get_body().decode(), "reason": msg.dead_letter_reason})


@host_app.route(route="items/{id:int}", methods=["GET"])
def item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"id": int(req.route_params["id"]), "q": req.params.get("q"), "url": req.url}),
        mimetype="application/json",
    )


@host_app.route(route="files/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params["path"])


@host_app.route(route="greet/{name?}", methods=["GET", "POST"])
def greet(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        f"hello {req.route_params.get('name', 'nobody')} {req.get_body().decode()}".strip()
    )


@host_app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("the function broke")


@host_app.route(route="admin", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin")


@host_app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer", run_on_startup=True)
def tick(timer: func.TimerRequest) -> None:
    ticks.append(time.monotonic())
