"""Apps in the v1 programming model (function.json + __init__.py), written as Microsoft
publishes them: an HTTP starter with an orchestrator and an activity, a counter entity,
and the documentation's singleton sample under 20 concurrent starts of one ID."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from embedded_functions.app_loader import AppLoadError, load_app
from embedded_functions.testing import EmbeddedRuntime, start_serve
from tests.runtime.conftest import APPS
from tests.runtime.durable_webhook import request

SAMPLES_V1 = APPS / "samples_v1"
SINGLETON_V1 = APPS / "singleton_v1"


def test_functions_are_indexed_from_their_folders() -> None:
    _, app, index = load_app(SAMPLES_V1)
    assert app is None  # no FunctionRegister in the v1 model
    kinds = {f.name: f.trigger_type for f in index.functions}
    assert kinds == {
        "Counter": "entityTrigger",
        "CounterAdd": "httpTrigger",
        "CounterOrchestrator": "orchestrationTrigger",
        "CounterRead": "httpTrigger",
        "Hello": "activityTrigger",
        "HelloSequence": "orchestrationTrigger",
        "HttpStart": "httpTrigger",
        "Nightly": "timerTrigger",
        "QueueStart": "serviceBusTrigger",
    }
    read = next(f for f in index.functions if f.name == "CounterRead")
    assert read.function.__name__ == "read_counter"  # scriptFile read.py, entryPoint
    assert read.durable_client_names == ["client"]  # orchestrationClient, the older name


async def test_http_starter_orchestrator_and_activity() -> None:
    async with EmbeddedRuntime(SAMPLES_V1, time_skipping=True) as runtime:
        status, body = await request("POST", f"{runtime.base_url}/api/orchestrators/HelloSequence")
        assert status == 202 and body["statusQueryGetUri"].startswith(runtime.base_url)
        done = await runtime.wait_for(body["id"])
        assert done["runtimeStatus"] == "Completed"
        # The activity imports shared code with a relative import, as v1 apps do.
        assert done["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


async def test_a_session_queue_trigger_starts_an_orchestration_and_the_timer_listens() -> None:
    async with EmbeddedRuntime(SAMPLES_V1, time_skipping=True) as runtime:
        assert "  Nightly: timer 0 0 3 * * *" in runtime.host.describe()
        message = {
            "Body": json.dumps({"orchestrator": "HelloSequence"}),
            "BrokerProperties": {"SessionId": "from-queue"},
        }
        status, _ = await request(
            "POST",
            f"{runtime.base_url}/v1-starts/messages",
            data=json.dumps([message]),
            headers={"Content-Type": "application/vnd.microsoft.servicebus.json"},
        )
        assert status == 201
        done = await runtime.wait_for("from-queue")
        assert done["output"] == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]


async def test_counter_entity_from_http_and_from_an_orchestrator() -> None:
    async with EmbeddedRuntime(SAMPLES_V1, time_skipping=True) as runtime:
        base = runtime.base_url
        assert await request("GET", f"{base}/api/counter/v1") == (404, "no such counter")
        for amount in (2, 5):
            status, _ = await request("POST", f"{base}/api/counter/v1/add?amount={amount}")
            assert status == 202
        await runtime.runtime.wait_idle()
        assert await request("GET", f"{base}/api/counter/v1") == (200, 7)
        await runtime.client().start_new("CounterOrchestrator", "count-v1", "v1")
        done = await runtime.wait_for("count-v1")
        assert (done["runtimeStatus"], done["output"]) == ("Completed", 10)


@pytest.mark.parametrize("start_mode", ["azure-storage", "atomic"])
async def test_the_documented_singleton_sample_under_20_concurrent_starts(
    tmp_path: Path, start_mode: str
) -> None:
    runs = tmp_path / "runs.log"
    async with EmbeddedRuntime(
        SINGLETON_V1, start_mode=start_mode, settings={"RUN_LOG": str(runs)}
    ) as runtime:
        url = f"{runtime.base_url}/api/orchestrators/LongJob/nightly"
        async with aiohttp.ClientSession() as session:

            async def start(caller: int) -> int:
                async with session.post(url, json={"caller": caller}) as answer:
                    await answer.read()
                    return answer.status

            statuses = await asyncio.gather(*(start(n) for n in range(20)))
        counts = Counter(statuses)
        fives = sum(n for status, n in counts.items() if status >= 500)
        print(
            f"singleton sample, {start_mode}: {counts[202]} x 202, {counts[409]} x 409, "
            f"{fives} x 5xx"
        )
        assert counts[202] + counts[409] + fives == 20
        assert counts[202] >= 1
        await runtime.client().raise_event("nightly", "finish", None)
        done = await runtime.wait_for("nightly")
        assert done["runtimeStatus"] == "Completed"
        started = [e for e in done["historyEvents"] if e["EventType"] == "ExecutionStarted"]
        assert len(started) == 1
    assert len(runs.read_text().splitlines()) == 1  # exactly one execution ran the job
    if start_mode == "atomic":
        # Check and start in one transaction: one caller starts, the rest fail loudly
        # (the sample's own 409 is a dict, which the Python worker cannot send: a 500).
        assert (counts[202], fives) == (1, 19)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


FUNCTION_JSON = json.dumps(
    {"bindings": [{"name": "name", "type": "activityTrigger", "direction": "in"}]}
)


def test_an_app_mixing_both_models_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path / "function_app.py", "import azure.functions as func\napp = func.FunctionApp()\n"
    )
    write(tmp_path / "Hello" / "function.json", FUNCTION_JSON)
    write(tmp_path / "Hello" / "__init__.py", "def main(name):\n    return name\n")
    with pytest.raises(AppLoadError, match="mixes the two Python programming models"):
        load_app(tmp_path)
    process, _ = start_serve(tmp_path, output=subprocess.PIPE)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 3
    assert b"mixes the two Python programming models" in output
    assert b"Traceback" not in output


@pytest.mark.parametrize(
    ("config", "script", "message"),
    [
        ("{not json", "", "is not valid JSON"),
        (json.dumps({"bindings": []}), "", "exactly one trigger"),
        (FUNCTION_JSON, "def other(name):\n    return name\n", "has no function 'main'"),
        (json.dumps({"bindings": [{"type": "activityTrigger"}]}), "", "a type and a name"),
    ],
)
def test_broken_function_folders_are_named(
    tmp_path: Path, config: str, script: str, message: str
) -> None:
    write(tmp_path / "Broken" / "function.json", config)
    write(tmp_path / "Broken" / "__init__.py", script)
    with pytest.raises(AppLoadError, match=message):
        load_app(tmp_path)
