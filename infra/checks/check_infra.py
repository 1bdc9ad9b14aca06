"""Checks of the deployment that run here (no Azure, no Bicep compiler, no Docker).

Run by `make test` (through `make iac`) in the tools environment (.venv-iac), with the
pycep-parser version checkov pins, so the templates stay within the syntax checkov itself
can read. Every Bicep rule is evaluated for both Durable backends (bicep_model.py evaluates
the templates for given parameters); negative_cases.py breaks each rule on purpose and
asserts that it is caught.

Also the one home of the host.json rules, and of the agreement between Config.json,
docker-compose.yml, the Bicep parameters, host.json, the app settings, the requirements and
the postprovision hooks.

Prints one line per check and exits 1 if any fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bicep_model import Deployment, Opaque, Resource, deploy, load

ROOT = Path(__file__).resolve().parents[2]

BACKENDS = ("azureStorage", "durableTaskScheduler")
# Regions Microsoft's Flex Consumption azd templates allow (functions-quickstart-python-http-azd,
# without the canary region eastus2euap).
FLEX_REGIONS = {
    "australiaeast", "australiasoutheast", "brazilsouth", "canadacentral", "centralindia",
    "centralus", "eastasia", "eastus", "eastus2", "francecentral", "germanywestcentral",
    "italynorth", "japaneast", "koreacentral", "northcentralus", "northeurope", "norwayeast",
    "southafricanorth", "southcentralus", "southeastasia", "southindia", "spaincentral",
    "swedencentral", "uaenorth", "uksouth", "ukwest", "westcentralus", "westeurope", "westus",
    "westus2", "westus3",
}  # fmt: skip
# Regions Microsoft's Durable Task Scheduler sample templates allowed at launch; the
# scheduler is now offered in most regions (`az provider show --namespace Microsoft.DurableTask`).
SCHEDULER_LAUNCH_REGIONS = {
    "australiaeast", "eastasia", "eastus", "eastus2", "northeurope", "southcentralus",
    "southeastasia", "swedencentral", "uksouth", "westus2",
}  # fmt: skip
PYTHON_VERSIONS = ["3.10", "3.11", "3.12", "3.13"]

ROLES = {
    "090c5cfd-751d-490a-894a-3ce6f1109419": "Azure Service Bus Data Owner",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "0ad04412-c4d5-4796-b79c-f76d14c8d402": "Durable Task Data Contributor",
}
SB_OWNER = "Azure Service Bus Data Owner"
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
    # The scheduler's "connection string" is an endpoint and a managed-identity client id.
    "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
    "connectionStringName",
)
PROVIDER = "AzureFunctionsJobHost__extensions__durableTask__storageProvider"
# The scenario every rule is evaluated in: a developer and a producer are given, so the
# conditional role assignments exist.
# A pipeline's principal, so a role that hard-codes 'User' shows.
SCENARIO = {"environmentName": "ci", "location": "westeurope", "principalId": "developer",
            "principalType": "ServicePrincipal", "producerPrincipalId": "producer"}  # fmt: skip


class Files:
    """The project's files, or replacements for some of them (the negative cases)."""

    def __init__(self, overrides: dict[str, str] | None = None) -> None:
        self.overrides = overrides or {}

    def text(self, relative: str) -> str:
        if relative in self.overrides:
            return self.overrides[relative]
        return (ROOT / relative).read_text()

    def json(self, relative: str) -> Any:
        return json.loads(self.text(relative))


Check = tuple[str, bool, str]


def duration(text: str) -> timedelta:
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?", text)
    if match:
        days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    hours_s, minutes_s, seconds_s = text.split(":")
    return timedelta(hours=int(hours_s), minutes=int(minutes_s), seconds=float(seconds_s))


def settings_of(deployment: Deployment) -> dict[str, Any]:
    (site,) = deployment.of_type("Microsoft.Web/sites").values()
    items = site.body["properties"]["siteConfig"]["appSettings"]
    return {item["name"]: item["value"] for item in items}


def role_of(assignment: Resource) -> str:
    definition = assignment.body["properties"]["roleDefinitionId"]
    guid = str(definition).rsplit("/", 1)[-1]
    return ROLES.get(guid, f"unknown role {guid}")


def scope_of(assignment: Resource) -> str:
    scope = assignment.body.get("scope")
    return scope.text if isinstance(scope, Opaque) else str(scope)


def principal_of(assignment: Resource) -> str:
    principal = assignment.body["properties"]["principalId"]
    return principal.text if isinstance(principal, Opaque) else str(principal)


def assignments(deployment: Deployment) -> dict[str, Resource]:
    return deployment.of_type("Microsoft.Authorization/roleAssignments")


def grants(deployment: Deployment, principal: str) -> set[tuple[str, str]]:
    """(role, scope) pairs a principal holds ('app' is the app's identity)."""
    wanted = (
        "identity.properties.principalId" if principal == "app" else deployment.values[principal]
    )
    return {
        (role_of(a), scope_of(a))
        for a in assignments(deployment).values()
        if principal_of(a) == wanted
    }


def properties(deployment: Deployment, name: str) -> dict[str, Any]:
    resource = deployment.resources.get(name)
    return resource.body.get("properties", {}) if resource and resource.exists else {}


# -- rules ----------------------------------------------------------------------------


def backend_rules(d: Deployment, backend: str) -> Iterator[Check]:
    settings = settings_of(d)
    start = properties(d, "startQueue")
    yield "the start queue requires sessions", start.get("requiresSession") is True, ""
    yield (
        "the start queue requires duplicate detection",
        start.get("requiresDuplicateDetection") is True,
        "",
    )
    yield "the start queue is not partitioned", start.get("enablePartitioning") is False, ""
    yield (
        "the start queue dead-letters on expiry",
        start.get("deadLetteringOnMessageExpiration") is True,
        "",
    )
    inbox = properties(d, "eventInbox")
    yield (
        "the event inbox is a plain queue (Event Grid can deliver to it)",
        inbox.get("requiresSession") is False,
        "",
    )

    (namespace,) = d.of_type("Microsoft.ServiceBus/namespaces").values()
    ns = namespace.body["properties"]
    yield "Service Bus: local auth off", ns.get("disableLocalAuth") is True, ""
    yield "Service Bus: TLS 1.2", ns.get("minimumTlsVersion") == "1.2", ""
    yield (
        "Service Bus: Standard tier (sessions, duplicate detection)",
        namespace.body["sku"]["name"] == "Standard",
        "",
    )
    (storage,) = d.of_type("Microsoft.Storage/storageAccounts").values()
    sp = storage.body["properties"]
    yield "storage: shared-key access off", sp.get("allowSharedKeyAccess") is False, ""
    yield "storage: no public blob access", sp.get("allowBlobPublicAccess") is False, ""
    yield "storage: TLS 1.2", sp.get("minimumTlsVersion") == "TLS1_2", ""
    (insights,) = d.of_type("Microsoft.Insights/components").values()
    yield (
        "Application Insights: local auth off",
        insights.body["properties"].get("DisableLocalAuth") is True,
        "",
    )
    (site,) = d.of_type("Microsoft.Web/sites").values()
    yield (
        "function app: user-assigned identity",
        site.body["identity"]["type"] == "UserAssigned",
        "",
    )
    (plan,) = d.of_type("Microsoft.Web/serverfarms").values()
    yield "plan: Flex Consumption FC1", plan.body["sku"]["name"] == "FC1", ""
    config = site.body["properties"]["functionAppConfig"]
    runtime = config["runtime"]
    yield (
        "function app: Python, the version the pythonVersion parameter gives",
        runtime["name"] == "python" and runtime["version"] == d.main_values["pythonVersion"],
        str(runtime),
    )
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
        "OUTCOME_TABLE",
    ):
        yield f"app setting {name}", name in settings, ""
    yield "no key-based storage setting", "AzureWebJobsStorage" not in settings, ""
    yield "no Service Bus connection string", "ServiceBusConnection" not in settings, ""

    # Roles: every one known; the app's Service Bus roles are Data Owner on its two queues.
    for name, assignment in assignments(d).items():
        role = role_of(assignment)
        yield f"role assignment {name}: {role}", not role.startswith("unknown"), ""
    app = grants(d, "app")
    app_service_bus = {(role, scope) for role, scope in app if "Service Bus" in role}
    yield (
        "the app holds Service Bus Data Owner on the start queue and the inbox only "
        "(the scale monitor reads message counts: the Manage claim)",
        app_service_bus == {(SB_OWNER, "startQueue"), (SB_OWNER, "eventInbox")},
        str(sorted(app_service_bus)),
    )
    producer = grants(d, "producerPrincipalId")
    yield (
        "the producer sends to the start queue and the inbox only",
        producer
        == {
            ("Azure Service Bus Data Sender", "startQueue"),
            ("Azure Service Bus Data Sender", "eventInbox"),
        },
        str(sorted(producer)),
    )

    # Local runs are isolated: the developer reaches local resources only.
    developer = grants(d, "principalId")
    local_scopes = {"localStartQueue", "localEventInbox", "localSchedulerTaskHub"}
    data_scopes = {scope for role, scope in developer if role != "Monitoring Metrics Publisher"}
    yield (
        "the developer's data roles are scoped to the local queues and task hub",
        bool(data_scopes) and data_scopes <= local_scopes,
        str(sorted(developer)),
    )
    yield (
        "the developer can receive from the local start queue",
        ("Azure Service Bus Data Receiver", "localStartQueue") in developer,
        "",
    )
    for name, assignment in assignments(d).items():
        if principal_of(assignment) == d.values["principalId"]:
            yield (
                f"{name}: principalType from the principalType parameter",
                assignment.body["properties"].get("principalType") == d.values["principalType"]
                and d.values["principalType"] == SCENARIO["principalType"],
                str(assignment.body["properties"].get("principalType")),
            )
    for local, deployed in (("localStartQueue", "startQueue"), ("localEventInbox", "eventInbox")):
        yield (
            f"{local} is declared like {deployed} under another name",
            properties(d, local) == properties(d, deployed)
            and d.resources[local].body["name"] != d.resources[deployed].body["name"],
            "",
        )
    outputs = d.outputs
    yield (
        "local names differ from the deployed ones",
        outputs["localStartQueueName"] != settings["START_QUEUE_NAME"]
        and outputs["localEventInboxQueueName"] != settings["EVENT_INBOX_QUEUE"]
        and outputs["localTaskHubName"] != settings["TASKHUB_NAME"]
        and outputs["localOutcomeTable"] != settings["OUTCOME_TABLE"],
        str(outputs),
    )

    # Publishing: no basic credentials.
    policies = d.of_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    yield (
        "basic publishing credentials (ftp, scm) are off",
        {p.body["name"]: p.body["properties"]["allow"] for p in policies.values()}
        == {"ftp": False, "scm": False},
        "",
    )

    # The backend itself.
    schedulers = d.of_type("Microsoft.DurableTask/schedulers")
    hubs = d.of_type("Microsoft.DurableTask/schedulers/taskHubs")
    always_ready = {g["name"]: g["instanceCount"] for g in config["scaleAndConcurrency"].get(
        "alwaysReady", [])}  # fmt: skip
    if backend == "azureStorage":
        yield "no scheduler without the scheduler backend", not schedulers and not hubs, ""
        yield (
            "Azure Storage backend: host.json's provider is not overridden",
            f"{PROVIDER}__type" not in settings,
            "",
        )
        polling = settings.get(f"{PROVIDER}__maxQueuePollingInterval")
        yield (
            "Azure Storage backend on Flex: maxQueuePollingInterval at most 5 s "
            "(below STARTER_REPLACE_WAIT_S)",
            polling is not None and duration(str(polling)) <= timedelta(seconds=5),
            str(polling),
        )
        yield (
            "Azure Storage backend on Flex: an always-ready instance for the durable group",
            always_ready.get("durable", 0) >= 1,
            str(always_ready),
        )
        yield (
            "Azure Storage backend: the app may create task hub queues and tables",
            ("Storage Queue Data Contributor", "storage") in app
            and ("Storage Table Data Contributor", "storage") in app,
            str(sorted(app)),
        )
    else:
        yield "one scheduler", len(schedulers) == 1, ""
        (scheduler,) = schedulers.values() or [None]
        if scheduler is not None:
            sku = scheduler.body["properties"]["sku"]
            yield (
                "scheduler SKU from the schedulerSku parameter (Consumption or Dedicated)",
                sku["name"] == d.main_values["schedulerSku"]
                and set(allowed(d.main, "schedulerSku")) == {"Consumption", "Dedicated"},
                str(sku),
            )
            yield (
                "scheduler accepts callers (an empty IP allow-list refuses all)",
                bool(scheduler.body["properties"].get("ipAllowlist")),
                "",
            )
        hub_names = {h.body["name"] for name, h in hubs.items() if name == "schedulerTaskHub"}
        yield (
            "the scheduler's task hub is the app's TASKHUB_NAME",
            hub_names == {settings["TASKHUB_NAME"]},
            str(hub_names),
        )
        yield (
            "the app holds Durable Task Data Contributor on its task hub only",
            {(r, s) for r, s in app if r == "Durable Task Data Contributor"}
            == {("Durable Task Data Contributor", "schedulerTaskHub")},
            str(sorted(app)),
        )
        yield (
            "storageProvider overridden to azureManaged through app settings",
            settings.get(f"{PROVIDER}__type") == "azureManaged"
            and settings.get(f"{PROVIDER}__connectionStringName")
            == "DURABLE_TASK_SCHEDULER_CONNECTION_STRING",
            "",
        )
        connection = str(settings.get("DURABLE_TASK_SCHEDULER_CONNECTION_STRING", ""))
        yield (
            "scheduler connection: endpoint, managed identity, the app identity's client id",
            connection.startswith("Endpoint=${scheduler.properties.endpoint};")
            and "Authentication=ManagedIdentity" in connection
            and "ClientID=${identity.properties.clientId}" in connection,
            connection,
        )
        yield (
            "scheduler backend: no account-wide queue or table role for the app",
            not {s for r, s in app if r.startswith(("Storage Queue", "Storage Table"))}
            - {"outcomeTable"},
            str(sorted(app)),
        )


def allowed(document: dict[str, Any], parameter: str) -> list[Any]:
    for decorator in document["parameters"][parameter].get("decorators", []):
        if decorator["type"] == "allowed":
            return list(decorator["argument"])
    return []


def template_rules(files: Files, main: dict[str, Any], module: dict[str, Any]) -> Iterator[Check]:
    locations = set(allowed(main, "location"))
    yield (
        "location: the Flex regions of Microsoft's azd templates",
        locations == FLEX_REGIONS,
        str(sorted(locations ^ FLEX_REGIONS)),
    )
    yield (
        "location: includes the scheduler's launch regions",
        locations >= SCHEDULER_LAUNCH_REGIONS,
        str(sorted(SCHEDULER_LAUNCH_REGIONS - locations)),
    )
    decorators = main["parameters"]["location"].get("decorators", [])
    yield (
        "location: azd picks it from a list (metadata azd type location)",
        any(
            dec["type"] == "metadata" and dec["argument"].get("azd", {}).get("type") == "location"
            for dec in decorators
        ),
        "",
    )
    pythons = allowed(main, "pythonVersion")
    yield (
        "pythonVersion: 3.10 to 3.13, the newest by default",
        pythons == PYTHON_VERSIONS
        and main["parameters"]["pythonVersion"].get("default") == PYTHON_VERSIONS[-1],
        str(pythons),
    )
    yield (
        "durableBackend: azureStorage (default) or durableTaskScheduler",
        allowed(main, "durableBackend") == list(BACKENDS)
        and main["parameters"]["durableBackend"].get("default") == "azureStorage",
        "",
    )
    yield (
        "durableAlwaysReady: a parameter defaulting to 1",
        main["parameters"].get("durableAlwaysReady", {}).get("default") == 1,
        "",
    )
    yield (
        "principalType: User, ServicePrincipal or Group",
        set(allowed(main, "principalType")) >= {"User", "ServicePrincipal"},
        "",
    )
    # Storage replication per region.
    skus = {}
    for location in ("westus", "westeurope"):
        d = deploy(main, module, {**SCENARIO, "location": location})
        skus[location] = d.values["storageSku"]
    yield (
        "storage: LRS where the region has no zones, ZRS where it has",
        skus == {"westus": "Standard_LRS", "westeurope": "Standard_ZRS"},
        str(skus),
    )
    chosen = deploy(main, module, {**SCENARIO, "storageSku": "Standard_GZRS"}).values["storageSku"]
    yield "storage: the storageSku parameter overrides", chosen == "Standard_GZRS", str(chosen)

    for name in ("main.bicep", "resources.bicep"):
        lines = files.text(f"infra/{name}").splitlines()
        leaks = [
            f"{name}:{number}"
            for number, line in enumerate(lines, start=1)
            for pattern in SECRET_PATTERNS
            if re.search(pattern, line.split("//")[0])
            and not any(allowed_text in line for allowed_text in ALLOWED_SECRET_LIKE)
        ]
        yield f"no keys, connection strings or listKeys in {name}", not leaks, str(leaks)

    deployment = deploy(main, module, SCENARIO)
    alerts = deployment.of_type("Microsoft.Insights/metricAlerts")
    metrics = {a.body["properties"]["criteria"]["allOf"][0]["metricName"] for a in alerts.values()}
    yield "alert on dead-lettered start requests", "DeadletteredMessages" in metrics, ""
    yield "alert on the start queue's backlog", "ActiveMessages" in metrics, ""

    mapped = files.json("infra/main.parameters.json")["parameters"]
    required = [n for n, p in main.get("parameters", {}).items() if p.get("default") is None]
    yield (
        "main.parameters.json maps every parameter without a default",
        set(required) <= set(mapped),
        str(sorted(set(required) - set(mapped))),
    )
    yield (
        "main.parameters.json names only real parameters",
        set(mapped) <= set(main.get("parameters", {})),
        str(sorted(set(mapped) - set(main.get("parameters", {})))),
    )
    for parameter, variable in (
        ("principalType", "AZURE_PRINCIPAL_TYPE"),
        ("durableBackend", "DURABLE_BACKEND"),
        ("pythonVersion", "PYTHON_VERSION"),
    ):
        value = str(mapped.get(parameter, {}).get("value", ""))
        yield (
            f"main.parameters.json: {parameter} from {variable}",
            value.startswith(f"${{{variable}"),
            value,
        )


def host_rules(files: Files, deployment: Deployment) -> Iterator[Check]:
    host = files.json("host.json")
    service_bus = host["extensions"]["serviceBus"]
    settings = settings_of(deployment)
    lock = duration(str(deployment.main_values["lockDuration"]))
    renewal = duration(service_bus["maxAutoLockRenewalDuration"])
    deadline = timedelta(seconds=float(settings.get("STARTER_HANDLER_DEADLINE_S", "25")))
    function_timeout = duration(host["functionTimeout"])
    yield (
        "host.json: one call per session, or the race comes back",
        service_bus.get("maxConcurrentCallsPerSession") == 1,
        "",
    )
    yield (
        "host.json: the host completes on success (Python cannot settle) and prefetch is off",
        service_bus.get("autoCompleteMessages") is True and service_bus.get("prefetchCount") == 0,
        "",
    )
    idle = duration(service_bus.get("sessionIdleTimeout", "00:01:00"))
    sessions = service_bus.get("maxConcurrentSessions", 8)
    yield (
        "host.json: a short session idle timeout and at least 8 sessions",
        timedelta(0) < idle <= timedelta(seconds=1) and sessions >= 8,
        str(idle),
    )
    # Each slot's handler makes one Durable API call at a time, and the Durable SDK gives a
    # process 30 connections (models/utils/http_utils.py): more slots than that wait for a
    # connection (140-170 ms at 128 slots) instead of adding throughput.
    yield (
        "host.json: no more sessions than the Durable SDK's 30 connections",
        sessions <= 30,
        str(sessions),
    )
    yield "handler deadline < half the lock duration", deadline < lock / 2, f"{deadline} vs {lock}"
    yield "lock renewal covers the handler deadline", renewal >= deadline, ""
    yield "function timeout > handler deadline", function_timeout > deadline, ""
    durable = host["extensions"]["durableTask"]
    yield "host.json: task hub from %TASKHUB_NAME%", durable.get("hubName") == "%TASKHUB_NAME%", ""
    yield (
        "host.json: no storageProvider type (app settings choose the backend)",
        "type" not in durable.get("storageProvider", {}),
        "",
    )
    bundle = host["extensionBundle"]
    newest = re.fullmatch(r"\[(\d+)\.(\*|\d+)(?:\.\d+)?, ?5\.0\.0\)", bundle["version"])
    yield (
        "host.json: the GA bundle, a range that admits 4.32+ (azureManaged for Python)",
        bundle["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
        and newest is not None
        and newest.group(1) == "4",
        str(bundle),
    )
    handler_default = re.search(
        r'"STARTER_HANDLER_DEADLINE_S",\s*([\d.]+)', files.text("starters/functions/settings.py")
    )
    yield (
        "the app setting's handler deadline is the code's default",
        handler_default is not None
        and float(handler_default.group(1)) == float(settings["STARTER_HANDLER_DEADLINE_S"]),
        "",
    )
    replace_wait = re.search(
        r'"STARTER_REPLACE_WAIT_S",\s*([\d.]+)', files.text("starters/functions/settings.py")
    )
    polling = settings.get(f"{PROVIDER}__maxQueuePollingInterval")
    if polling is not None and replace_wait is not None:
        yield (
            "Durable polling interval below STARTER_REPLACE_WAIT_S",
            duration(str(polling)) < timedelta(seconds=float(replace_wait.group(1))),
            "",
        )


def file_rules(files: Files, deployment: Deployment) -> Iterator[Check]:
    config = files.json("servicebus-emulator/Config.json")
    declared = {q["Name"]: q["Properties"] for q in config["UserConfig"]["Namespaces"][0]["Queues"]}
    emulated = declared.get("start-requests", {})
    yield (
        "Config.json declares the start queue with sessions",
        emulated.get("RequiresSession") is True,
        "",
    )
    defaults = deployment.main_values
    for key, param in (
        ("LockDuration", "lockDuration"),
        ("MaxDeliveryCount", "maxDeliveryCount"),
        ("DefaultMessageTimeToLive", "messageTimeToLive"),
        ("DuplicateDetectionHistoryTimeWindow", "duplicateDetectionWindow"),
    ):
        yield (
            f"Config.json {key} = Bicep default of {param}",
            str(emulated.get(key)) == str(defaults.get(param)),
            f"{emulated.get(key)} vs {defaults.get(param)}",
        )
    yield (
        "Config.json: duplicate detection on",
        emulated.get("RequiresDuplicateDetection") is True,
        "",
    )
    yield "Config.json declares the event inbox", "event-inbox" in declared, ""
    settings = settings_of(deployment)
    template = files.json("local.settings.json.template")["Values"]
    yield (
        "local template and app settings: the same handler deadline",
        template.get("STARTER_HANDLER_DEADLINE_S") == settings.get("STARTER_HANDLER_DEADLINE_S"),
        "",
    )

    compose = files.text("docker-compose.yml")
    yield (
        "docker-compose mounts the same Config.json",
        "./servicebus-emulator/Config.json:/ServiceBus_Emulator/ConfigFiles/Config.json" in compose,
        "",
    )
    images = re.findall(r"^\s*image:\s*(\S+)", compose, flags=re.MULTILINE)
    for image in ("azurite", "servicebus-emulator", "mssql", "dts-emulator"):
        yield f"docker-compose runs {image}", any(image in i for i in images), ""
    unpinned = [i for i in images if ":" not in i or re.search(r"(^|[:-])latest$", i)]
    yield "docker-compose: every image pinned", not unpinned, str(unpinned)
    emulator = re.search(r"^  servicebus-emulator:\n((?:    .*\n|\n)*)", compose, re.MULTILINE)
    sql = re.search(r"^  mssql:\n((?:    .*\n|\n)*)", compose, re.MULTILINE)
    yield (
        "docker-compose: the Service Bus emulator waits for a healthy SQL Server",
        emulator is not None
        and re.search(r"mssql:\s*\n\s*condition: service_healthy", emulator.group(1)) is not None
        and 'SQL_WAIT_INTERVAL: "0"' not in emulator.group(1)
        and sql is not None
        and "healthcheck:" in sql.group(1),
        "",
    )

    requirements = files.text("requirements.txt")
    yield from requirement_rules(requirements)
    yield from hook_rules(files, deployment)


def requirement_rules(requirements: str) -> Iterator[Check]:
    from packaging.requirements import Requirement

    lines = [
        line.split("#")[0].strip()
        for line in requirements.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    functions = [Requirement(line) for line in lines if line.startswith("azure-functions")]
    functions = [r for r in functions if r.name == "azure-functions"]
    for version in PYTHON_VERSIONS:
        environment = {"python_version": version, "python_full_version": f"{version}.0"}
        chosen = [str(r.specifier) for r in functions if r.marker is None or r.marker.evaluate(
            environment)]  # fmt: skip
        major = "2" if version >= "3.13" else "1"
        yield (
            f"requirements.txt: Python {version} installs azure-functions {major}.x",
            len(chosen) == 1 and chosen[0].startswith(f"=={major}."),
            str(chosen),
        )


def hook_rules(files: Files, deployment: Deployment) -> Iterator[Check]:
    """Run postprovision.sh against the Bicep's outputs (a stand-in `azd` prints them)."""
    main_outputs = files.text("infra/main.bicep")
    outputs = deployment.outputs
    values = {
        "SERVICE_BUS_NAMESPACE": "sb-ci.servicebus.windows.net",
        "LOCAL_START_QUEUE_NAME": outputs["localStartQueueName"],
        "LOCAL_EVENT_INBOX_QUEUE": outputs["localEventInboxQueueName"],
        "LOCAL_TASKHUB_NAME": outputs["localTaskHubName"],
        "LOCAL_OUTCOME_TABLE": outputs["localOutcomeTable"],
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=ci",
        "DURABLE_TASK_SCHEDULER_ENDPOINT": "https://dts-ci.westeurope.durabletask.io",
    }
    for name in values:
        if name.startswith("LOCAL_") or name == "DURABLE_TASK_SCHEDULER_ENDPOINT":
            yield f"main.bicep outputs {name}", f"output {name} " in main_outputs, ""
    settings = settings_of(deployment)
    for backend in BACKENDS:
        written = run_hook(files.text("infra/hooks/postprovision.sh"), {
            **values, "DURABLE_BACKEND": backend})  # fmt: skip
        local = written.get("Values", {}) if isinstance(written, dict) else {}
        yield (
            f"postprovision.sh ({backend}): local queues, task hub and outcome table",
            local.get("START_QUEUE_NAME") == values["LOCAL_START_QUEUE_NAME"]
            and local.get("EVENT_INBOX_QUEUE") == values["LOCAL_EVENT_INBOX_QUEUE"]
            and local.get("TASKHUB_NAME") == values["LOCAL_TASKHUB_NAME"]
            and local.get("OUTCOME_TABLE") == values["LOCAL_OUTCOME_TABLE"]
            and local.get("START_QUEUE_NAME") != settings["START_QUEUE_NAME"],
            str(written)[:300],
        )
        yield (
            f"postprovision.sh ({backend}): host storage and outcomes in Azurite",
            local.get("AzureWebJobsStorage") == "UseDevelopmentStorage=true",
            "",
        )
        scheduler = local.get(f"{PROVIDER}__type") == "azureManaged"
        yield (
            f"postprovision.sh ({backend}): the scheduler override only with the scheduler",
            scheduler == (backend == "durableTaskScheduler"),
            "",
        )
    windows = files.text("infra/hooks/postprovision.ps1")
    for setting, output in (
        ("START_QUEUE_NAME", "LOCAL_START_QUEUE_NAME"),
        ("EVENT_INBOX_QUEUE", "LOCAL_EVENT_INBOX_QUEUE"),
        ("TASKHUB_NAME", "LOCAL_TASKHUB_NAME"),
        ("OUTCOME_TABLE", "LOCAL_OUTCOME_TABLE"),
    ):
        yield (
            f"postprovision.ps1: {setting} from {output}",
            re.search(rf'{setting} = \$values\["{output}"\]', windows) is not None,
            "",
        )


def run_hook(script: str, values: dict[str, str]) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        bin_dir = work / "bin"
        bin_dir.mkdir()
        azd = bin_dir / "azd"
        listing = "".join(f'{name}="{value}"\n' for name, value in values.items())
        azd.write_text(f"#!/bin/sh\ncat <<'VALUES'\n{listing}VALUES\n")
        azd.chmod(0o755)
        hook = work / "postprovision.sh"
        hook.write_text(script)
        environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
        result = subprocess.run(
            ["sh", str(hook)], cwd=work, env=environment, capture_output=True, text=True
        )
        target = work / "local.settings.json"
        if result.returncode != 0 or not target.exists():
            return {"error": result.stderr}
        try:
            return json.loads(target.read_text())
        except json.JSONDecodeError as error:
            return {"error": f"invalid JSON: {error}"}


def all_checks(files: Files) -> list[Check]:
    checks: list[Check] = []
    try:
        main, module = load(
            {
                name: files.overrides[f"infra/{name}"]
                for name in ("main.bicep", "resources.bicep")
                if f"infra/{name}" in files.overrides
            }
        )
    except Exception as error:
        return [("the templates parse", False, str(error)[:300])]
    checks.append(("the templates parse", True, ""))
    for backend in BACKENDS:
        deployment = deploy(main, module, {**SCENARIO, "durableBackend": backend})
        checks += [
            (f"[{backend}] {n}", ok, why) for n, ok, why in backend_rules(deployment, backend)
        ]
    checks += list(template_rules(files, main, module))
    deployment = deploy(main, module, SCENARIO)
    checks += list(host_rules(files, deployment))
    checks += list(file_rules(files, deployment))
    return checks


def report(checks: list[Check], emit: Callable[[str], None] = print) -> int:
    failed = [name for name, ok, _ in checks if not ok]
    for name, ok, why in checks:
        emit(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + why if why and not ok else ''}")
    emit(f"{len(checks)} checks, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(report(all_checks(Files())))
