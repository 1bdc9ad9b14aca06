"""Checks of the deployment that run here (no Azure, no Bicep compiler, no Docker).

Run by `make test` in the tools environment (.venv-iac), with the pycep-parser version
checkov pins, so the templates stay within the syntax checkov itself can read:

- every .bicep file parses;
- the start queue requires sessions and duplicate detection, is not partitioned and
  dead-letters on expiry; local auth is off on Service Bus, storage and Application
  Insights; TLS 1.2;
- every role assignment names a known least-privilege role;
- no key, connection string or listKeys anywhere (the Application Insights connection
  string excepted: not a secret once local auth is off);
- Config.json, docker-compose.yml, the Bicep parameters, host.json and the app settings
  agree (session queue; lock duration versus lock renewal versus handler deadline versus
  function timeout).

Prints one line per check and exits 1 if any fails.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

LEAST_PRIVILEGE = {
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
SECRET_PATTERNS = [
    r"listKeys",
    r"AccountKey",
    r"SharedAccessKey",
    r"primaryKey",
    r"secondaryKey",
    r"[Cc]onnectionString",
]
ALLOWED_SECRET_LIKE = (
    "appInsights.properties.ConnectionString",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "appInsightsConnectionString",
)

failures: list[str] = []


def check(name: str, condition: bool, detail: str = "") -> None:
    mark = "ok  " if condition else "FAIL"
    why = f": {detail}" if detail and not condition else ""
    print(f"{mark} {name}{why}")
    if not condition:
        failures.append(name)


def duration(text: str) -> timedelta:
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?", text)
    if match:
        days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    hours_s, minutes_s, seconds_s = text.split(":")
    return timedelta(hours=int(hours_s), minutes=int(minutes_s), seconds=float(seconds_s))


def parse_all() -> dict[str, dict[str, Any]]:
    parsed = {}
    for path in sorted(INFRA.glob("*.bicep")):
        try:
            parsed[path.name] = BicepParser().parse(text=path.read_text())
            check(f"{path.name} parses", True)
        except Exception as error:
            check(f"{path.name} parses", False, str(error)[:300])
    return parsed


def resources_of(document: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in document.get("resources", {}).items() if r["type"] == kind}


def main() -> int:
    parsed = parse_all()
    resources = parsed.get("resources.bicep", {})
    main_bicep = parsed.get("main.bicep", {})
    if not resources:
        return 1
    defaults = {
        name: param.get("default") for name, param in main_bicep.get("parameters", {}).items()
    }

    queues = resources_of(resources, "Microsoft.ServiceBus/namespaces/queues")
    start = queues.get("startQueue", {}).get("config", {}).get("properties", {})
    check("the start queue requires sessions", start.get("requiresSession") is True)
    check(
        "the start queue requires duplicate detection",
        start.get("requiresDuplicateDetection") is True,
    )
    check("the start queue is not partitioned", start.get("enablePartitioning") is False)
    check(
        "the start queue dead-letters on expiry",
        start.get("deadLetteringOnMessageExpiration") is True,
    )
    inbox = queues.get("eventInbox", {}).get("config", {}).get("properties", {})
    check(
        "the event inbox is a plain queue (Event Grid can deliver to it)",
        inbox.get("requiresSession") is False,
    )

    (namespace,) = resources_of(resources, "Microsoft.ServiceBus/namespaces").values()
    props = namespace["config"]["properties"]
    check("Service Bus: local auth off", props.get("disableLocalAuth") is True)
    check("Service Bus: TLS 1.2", props.get("minimumTlsVersion") == "1.2")
    check(
        "Service Bus: Standard tier (sessions, duplicate detection)",
        namespace["config"]["sku"]["name"] == "Standard",
    )
    (storage,) = resources_of(resources, "Microsoft.Storage/storageAccounts").values()
    storage_props = storage["config"]["properties"]
    check("storage: shared-key access off", storage_props.get("allowSharedKeyAccess") is False)
    check("storage: no public blob access", storage_props.get("allowBlobPublicAccess") is False)
    check("storage: TLS 1.2", storage_props.get("minimumTlsVersion") == "TLS1_2")
    (insights,) = resources_of(resources, "Microsoft.Insights/components").values()
    check(
        "Application Insights: local auth off",
        insights["config"]["properties"].get("DisableLocalAuth") is True,
    )
    (site,) = resources_of(resources, "Microsoft.Web/sites").values()
    site_config = site["config"]
    check("function app: user-assigned identity", site_config["identity"]["type"] == "UserAssigned")
    runtime = site_config["properties"]["functionAppConfig"]["runtime"]
    check(
        "function app: Python 3.11 or 3.12",
        runtime["name"] == "python" and runtime["version"] in ("3.11", "3.12"),
    )
    (plan,) = resources_of(resources, "Microsoft.Web/serverfarms").values()
    check("plan: Flex Consumption FC1", plan["config"]["sku"]["name"] == "FC1")
    settings = {
        item["name"]: item["value"]
        for item in site_config["properties"]["siteConfig"]["appSettings"]
    }
    for name in (
        "ServiceBusConnection__fullyQualifiedNamespace",
        "ServiceBusConnection__credential",
        "ServiceBusConnection__clientId",
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
        "AzureWebJobsStorage__tableServiceUri",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "TASKHUB_NAME",
        "START_QUEUE_NAME",
        "EVENT_INBOX_QUEUE",
    ):
        check(f"app setting {name}", name in settings)
    check("no key-based storage setting", "AzureWebJobsStorage" not in settings)
    check("no Service Bus connection string", "ServiceBusConnection" not in settings)

    roles = resources.get("variables", {}).get("roles", {}).get("value", {})
    assignments = resources_of(resources, "Microsoft.Authorization/roleAssignments")
    check("role assignments exist", len(assignments) >= 6)
    for name, assignment in assignments.items():
        config = assignment["config"]
        config = config.get("config", config)  # a conditional resource nests its body
        definition = config["properties"]["roleDefinitionId"]
        role_key = definition["function"]["parameters"]["resource_name_1"]["operator"]["operands"][
            "operand_2"
        ]
        guid = roles.get(role_key)
        check(
            f"role assignment {name}: {LEAST_PRIVILEGE.get(str(guid), 'unknown role')}",
            guid in LEAST_PRIVILEGE,
        )

    for path in sorted(INFRA.glob("*.bicep")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("//")[0]
            for pattern in SECRET_PATTERNS:
                if re.search(pattern, code) and not any(
                    allowed in code for allowed in ALLOWED_SECRET_LIKE
                ):
                    check(f"no secrets: {path.name}:{number}", False, line.strip())
    check(
        "no keys, connection strings or listKeys in the templates",
        not any(f.startswith("no secrets:") for f in failures),
    )

    alerts = resources_of(resources, "Microsoft.Insights/metricAlerts")
    metrics = {
        a["config"]["properties"]["criteria"]["allOf"][0]["metricName"] for a in alerts.values()
    }
    check("alert on dead-lettered start requests", "DeadletteredMessages" in metrics)
    check("alert on the start queue's backlog", "ActiveMessages" in metrics)

    # -- agreement between the files ----------------------------------------------------
    config = json.loads((ROOT / "servicebus-emulator" / "Config.json").read_text())
    declared = {q["Name"]: q["Properties"] for q in config["UserConfig"]["Namespaces"][0]["Queues"]}
    emulated = declared.get("start-requests", {})
    check(
        "Config.json declares the start queue with sessions",
        emulated.get("RequiresSession") is True,
    )
    for key, param in (
        ("LockDuration", "lockDuration"),
        ("MaxDeliveryCount", "maxDeliveryCount"),
        ("DefaultMessageTimeToLive", "messageTimeToLive"),
        ("DuplicateDetectionHistoryTimeWindow", "duplicateDetectionWindow"),
    ):
        check(
            f"Config.json {key} = Bicep default of {param}",
            str(emulated.get(key)) == str(defaults.get(param)),
            f"{emulated.get(key)} vs {defaults.get(param)}",
        )
    check("Config.json: duplicate detection on", emulated.get("RequiresDuplicateDetection") is True)
    check("Config.json declares the event inbox", "event-inbox" in declared)

    host = json.loads((ROOT / "host.json").read_text())
    service_bus = host["extensions"]["serviceBus"]
    lock = duration(str(defaults.get("lockDuration")))
    renewal = duration(service_bus["maxAutoLockRenewalDuration"])
    deadline = timedelta(seconds=float(settings.get("STARTER_HANDLER_DEADLINE_S", "25")))
    function_timeout = duration(host["functionTimeout"])
    check("host.json: one call per session", service_bus["maxConcurrentCallsPerSession"] == 1)
    check("handler deadline < half the lock duration", deadline < lock / 2, f"{deadline} vs {lock}")
    check("lock renewal covers the handler deadline", renewal >= deadline)
    check("function timeout > handler deadline", function_timeout > deadline)
    template = json.loads((ROOT / "local.settings.json.template").read_text())["Values"]
    check(
        "local template and app settings: the same handler deadline",
        template.get("STARTER_HANDLER_DEADLINE_S") == settings.get("STARTER_HANDLER_DEADLINE_S"),
    )
    check(
        "local template and app settings: the same start queue",
        template.get("START_QUEUE_NAME") == "start-requests",
    )

    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    required = [
        name
        for name, param in main_bicep.get("parameters", {}).items()
        if param.get("default") is None
    ]
    check(
        "main.parameters.json maps every parameter without a default",
        set(required) <= set(mapped),
        str(sorted(set(required) - set(mapped))),
    )
    check(
        "main.parameters.json names only real parameters",
        set(mapped) <= set(main_bicep.get("parameters", {})),
    )

    compose = (ROOT / "docker-compose.yml").read_text()
    check(
        "docker-compose mounts the same Config.json",
        "./servicebus-emulator/Config.json:/ServiceBus_Emulator/ConfigFiles/Config.json" in compose,
    )
    for image in ("azurite", "servicebus-emulator", "mssql"):
        check(f"docker-compose runs {image}", image in compose)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
