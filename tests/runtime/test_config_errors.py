"""Configuration errors are said plainly (the file, the line, what is wrong; exit 3; no
traceback), functions the runtime cannot serve are DISABLED by name while the others run,
and `AzureFunctionsJobHost__` app settings override host.json as in Azure."""

from __future__ import annotations

import asyncio
import json
import subprocess
import textwrap
from pathlib import Path

import aiohttp

from embedded_functions.host_json import apply_overrides
from embedded_functions.testing import EmbeddedRuntime, start_serve, stop_serve, wait_listening

APP = textwrap.dedent(
    """
    import azure.durable_functions as df
    import azure.functions as func

    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="hello")
    def hello(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("hi")

    @app.orchestration_trigger(context_name="context")
    def texts(context):
        result = yield context.call_activity("send_sms", "hello")
        return result

    @app.activity_trigger(input_name="text")
    @app.generic_output_binding(arg_name="message", type="twilioSms", accountSidSetting="X")
    def send_sms(text, message):
        message.set(text)
    """
)


def write_app(root: Path, host_json: str = '{"version": "2.0"}') -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "function_app.py").write_text(APP)
    (root / "host.json").write_text(host_json)
    return root


def run_to_exit(root: Path, *args: str) -> tuple[int, str]:
    process, _ = start_serve(root, args=args, output=subprocess.PIPE)
    output, _ = process.communicate(timeout=60)
    return process.returncode, output.decode()


def assert_plain_error(code: int, output: str, *expected: str) -> None:
    assert code == 3, output
    assert "Traceback" not in output, output
    for text in expected:
        assert text in output, output


def test_a_host_json_that_is_not_json_names_the_file_and_the_line(tmp_path: Path) -> None:
    root = write_app(
        tmp_path / "app",
        '{\n  "version": "2.0",\n  "extensions": {\n    "http": {"routePrefix": "api",}\n  }\n}',
    )
    code, output = run_to_exit(root)
    assert_plain_error(code, output, f"{root / 'host.json'}, line 4: not valid JSON")


def test_a_host_json_value_of_the_wrong_shape_names_its_line(tmp_path: Path) -> None:
    root = write_app(
        tmp_path / "app", '{\n  "version": "2.0",\n  "extensions": {\n    "serviceBus": 5\n  }\n}'
    )
    code, output = run_to_exit(root)
    assert_plain_error(code, output, "host.json, line 4: 'extensions.serviceBus' must be")


def test_a_broken_local_settings_json_names_its_line(tmp_path: Path) -> None:
    root = write_app(tmp_path / "app")
    (root / "local.settings.json").write_text('{\n  "Values": {\n    "A": "1"\n    "B": "2"\n}}')
    code, output = run_to_exit(root)
    assert_plain_error(code, output, "local.settings.json, line 4: not valid JSON")


def test_a_bad_queue_property_in_config_json_names_the_queues_line(tmp_path: Path) -> None:
    root = write_app(tmp_path / "app")
    config = {
        "UserConfig": {
            "Namespaces": [
                {"Queues": [{"Name": "ok"}, {"Name": "late", "Properties": {"LockDuration": "x"}}]}
            ]
        }
    }
    (root / "Config.json").write_text(json.dumps(config, indent=2))
    code, output = run_to_exit(root, "--queue-config", str(root / "Config.json"))
    line = next(
        n
        for n, text in enumerate((root / "Config.json").read_text().splitlines(), 1)
        if '"late"' in text
    )
    assert_plain_error(code, output, f"Config.json, line {line}: 'x' is not a duration")


def test_host_json_may_hold_comments_as_the_host_reads_it(tmp_path: Path) -> None:
    host_json = '{\n  // the routes\n  "version": "2.0", /* here */\n  "extensions": {}\n}'
    root = write_app(tmp_path / "app", host_json)

    async def serve() -> int:
        process, port = start_serve(root)
        try:
            await wait_listening(port, process)
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/api/hello") as response,
            ):
                return response.status
        finally:
            stop_serve(process)

    assert asyncio.run(serve()) == 200


async def test_a_function_with_a_binding_it_cannot_provide_is_disabled_the_others_run(
    tmp_path: Path,
) -> None:
    root = write_app(tmp_path / "app")
    process, port = start_serve(root, output=subprocess.PIPE)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Listening on"):
            line = await asyncio.to_thread(process.stdout.readline)
            assert line, "".join(lines)
            lines.append(line.decode())
        listing = "".join(lines)
        assert "send_sms: DISABLED" in listing
        assert "twilioSms binding 'message'" in listing
        assert "texts: orchestrationTrigger" in listing
        assert "hello: [" in listing
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/api/hello") as response:
                assert response.status == 200
            # To the Durable runtime the disabled activity does not exist, as on the host.
            start = f"{base}/runtime/webhooks/durabletask/orchestrators/texts/t-1"
            async with session.post(start) as response:
                assert response.status == 202
            status_url = f"{base}/runtime/webhooks/durabletask/instances/t-1"
            for _ in range(200):
                async with session.get(status_url) as response:
                    status = await response.json()
                if status["runtimeStatus"] == "Failed":
                    break
                await asyncio.sleep(0.05)
        assert "The function 'send_sms' doesn't exist, is disabled" in status["output"]
    finally:
        stop_serve(process)


async def test_azure_functions_job_host_settings_override_host_json(tmp_path: Path) -> None:
    host_json = {
        "version": "2.0",
        "extensions": {"serviceBus": {"maxConcurrentSessions": 8}, "durableTask": {}},
    }
    root = write_app(tmp_path / "app", json.dumps(host_json))
    settings = {
        "AzureFunctionsJobHost__extensions__serviceBus__maxConcurrentSessions": "3",
        "AzureFunctionsJobHost__extensions__serviceBus__autoCompleteMessages": "false",
        "AzureFunctionsJobHost__Extensions__DurableTask__hubName": "OverriddenHub",
    }
    async with EmbeddedRuntime(root, settings=settings) as runtime:
        assert runtime.host.service_bus is not None
        assert runtime.host.service_bus.options.max_concurrent_sessions == 3
        assert runtime.host.service_bus.options.auto_complete_messages is False
        assert runtime.runtime.hub_name == "OverriddenHub"


def test_overrides_follow_the_double_underscore_path_case_insensitively() -> None:
    config = {"extensions": {"durableTask": {"storageProvider": {"type": "x"}}}}
    env = {
        "AzureFunctionsJobHost__extensions__durableTask__storageProvider__type": "mssql",
        "azurefunctionsjobhost__EXTENSIONS__durabletask__storageProvider__connection": "Sql",
        "OTHER": "ignored",
    }
    apply_overrides(config, env)
    assert config == {
        "extensions": {"durableTask": {"storageProvider": {"type": "mssql", "connection": "Sql"}}}
    }
