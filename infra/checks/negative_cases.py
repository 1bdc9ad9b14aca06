"""Each rule of check_infra.py broken on purpose: the check must catch it.

A case replaces one exact piece of one file (the piece must be there, so a case cannot
silently stop testing anything) and names the check that must then fail. Run by `make iac`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_infra import ROOT, Files, all_checks

RES = "infra/resources.bicep"
MAIN = "infra/main.bicep"
# (what is broken, file, text, replacement, a fragment of the check that must fail)
CASES = [
    ("the app loses Data Owner on the start queue", RES,
     "resource appStartQueueOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {\n"
     "  name: guid(startQueue.id, identity.properties.principalId, roles.serviceBusDataOwner)\n"
     "  scope: startQueue",
     "resource appStartQueueOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {\n"
     "  name: guid(startQueue.id, identity.properties.principalId, roles.serviceBusDataOwner)\n"
     "  scope: serviceBus",
     "[azureStorage] the app holds Service Bus Data Owner"),
    ("the app's inbox role is Receiver only", RES,
     "name: guid(eventInbox.id, identity.properties.principalId, roles.serviceBusDataOwner)\n"
     "  scope: eventInbox\n  properties: {\n"
     "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
     "roles.serviceBusDataOwner)",
     "name: guid(eventInbox.id, identity.properties.principalId, roles.serviceBusDataOwner)\n"
     "  scope: eventInbox\n  properties: {\n"
     "    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
     "roles.serviceBusDataReceiver)",
     "[durableTaskScheduler] the app holds Service Bus Data Owner"),
    ("the producer may send anywhere in the namespace", RES,
     "name: guid(startQueue.id, producerPrincipalId, roles.serviceBusDataSender)\n"
     "  scope: startQueue",
     "name: guid(startQueue.id, producerPrincipalId, roles.serviceBusDataSender)\n"
     "  scope: serviceBus",
     "the producer sends to the start queue and the inbox only"),
    ("the developer receives from the deployed start queue", RES,
     "name: guid(localStartQueue.id, principalId, roles.serviceBusDataReceiver)\n"
     "  scope: localStartQueue",
     "name: guid(localStartQueue.id, principalId, roles.serviceBusDataReceiver)\n"
     "  scope: startQueue",
     "the developer's data roles are scoped to the local"),
    ("a developer role hard-codes principalType User", RES,
     "    principalId: principalId\n    principalType: principalType\n",
     "    principalId: principalId\n    principalType: 'User'\n",
     "principalType from the principalType parameter"),
    ("the local start queue loses sessions", RES,
     "  name: localStartQueueName\n  properties: startQueueProperties",
     "  name: localStartQueueName\n  properties: eventInboxProperties",
     "localStartQueue is declared like startQueue"),
    ("the local task hub is the deployed one", RES,
     "var localTaskHubName = '${taskHubName}Local'", "var localTaskHubName = taskHubName",
     "local names differ from the deployed ones"),
    ("the start queue without sessions", RES,
     "var startQueueProperties = {\n  requiresSession: true",
     "var startQueueProperties = {\n  requiresSession: false",
     "[azureStorage] the start queue requires sessions"),
    ("the start queue partitioned", RES,
     "  deadLetteringOnMessageExpiration: true\n  enablePartitioning: false\n"
     "  enableBatchedOperations: true",
     "  deadLetteringOnMessageExpiration: true\n  enablePartitioning: true\n"
     "  enableBatchedOperations: true",
     "the start queue is not partitioned"),
    ("Service Bus local auth on", RES, "disableLocalAuth: true", "disableLocalAuth: false",
     "Service Bus: local auth off"),
    ("storage shared keys on", RES, "allowSharedKeyAccess: false", "allowSharedKeyAccess: true",
     "storage: shared-key access off"),
    ("Application Insights local auth on", RES, "DisableLocalAuth: true",
     "DisableLocalAuth: false", "Application Insights: local auth off"),
    ("FTP basic credentials on", RES,
     "  name: 'ftp'\n  properties: {\n    allow: false",
     "  name: 'ftp'\n  properties: {\n    allow: true",
     "basic publishing credentials"),
    ("the runtime ignores the pythonVersion parameter", RES,
     "version: pythonVersion", "version: '3.11'",
     "function app: Python, the version the pythonVersion parameter gives"),
    ("no always-ready durable instance", RES,
     "alwaysReady: warmDurable ? durableAlwaysReadyGroups : []", "alwaysReady: []",
     "[azureStorage] Azure Storage backend on Flex: an always-ready instance"),
    ("the default 30 s queue polling on Flex", RES,
     "value: '00:00:01'", "value: '00:00:30'",
     "maxQueuePollingInterval at most 5 s"),
    ("the Azure Storage backend without queue access", RES,
     "resource appQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if "
     "(useStorageBackend)",
     "resource appQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useScheduler)",
     "the app may create task hub queues and tables"),
    ("the scheduler created for the Azure Storage backend", RES,
     "resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = if (useScheduler)",
     "resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' =",
     "[azureStorage] no scheduler without the scheduler backend"),
    ("the scheduler's task hub under another name", RES,
     "  parent: scheduler\n  name: taskHubName", "  parent: scheduler\n  name: 'default'",
     "the scheduler's task hub is the app's TASKHUB_NAME"),
    ("the scheduler role on the whole scheduler", RES,
     "name: guid(schedulerTaskHub.id, identity.properties.principalId, "
     "roles.durableTaskDataContributor)\n  scope: schedulerTaskHub",
     "name: guid(schedulerTaskHub.id, identity.properties.principalId, "
     "roles.durableTaskDataContributor)\n  scope: scheduler",
     "Durable Task Data Contributor on its task hub only"),
    ("the scheduler connection without the identity's client id", RES,
     ";Authentication=ManagedIdentity;ClientID=${identity.properties.clientId}'",
     ";Authentication=ManagedIdentity'", "scheduler connection: endpoint, managed identity"),
    ("the provider override missing", RES,
     "{ name: '${storageProviderSetting}__type', value: 'azureManaged' }", "",
     "storageProvider overridden to azureManaged"),
    ("a fixed scheduler SKU", RES,
     "sku: dedicatedScheduler ? dedicatedSchedulerSku : consumptionSchedulerSku",
     "sku: dedicatedSchedulerSku", "scheduler SKU from the schedulerSku parameter"),
    ("the scheduler refuses every caller", RES,
     "    ipAllowlist: [\n      '0.0.0.0/0'\n    ]", "    ipAllowlist: []",
     "scheduler accepts callers"),
    ("the scheduler backend keeps account-wide table access", RES,
     "resource appTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = if "
     "(useStorageBackend)",
     "resource appTable 'Microsoft.Authorization/roleAssignments@2022-04-01' =",
     "no account-wide queue or table role"),
    ("a listKeys call", RES, "output appUrl string",
     "output key string = storage.listKeys().keys[0].value\noutput appUrl string",
     "no keys, connection strings or listKeys in resources.bicep"),
    ("ZRS everywhere", MAIN, "storageSkuChosen ? storageSku : (regionHasZones ? 'Standard_ZRS' : "
     "'Standard_LRS')", "storageSkuChosen ? storageSku : 'Standard_ZRS'",
     "storage: LRS where the region has no zones"),
    ("a region without Flex", MAIN, "  'westus3'\n])", "  'westus3'\n  'chinaeast'\n])",
     "location: the Flex regions"),
    ("an old Python by default", MAIN, "param pythonVersion string = '3.13'",
     "param pythonVersion string = '3.11'", "pythonVersion: 3.10 to 3.13"),
    ("no location picker", MAIN, "    type: 'location'", "    type: 'string'",
     "location: azd picks it from a list"),
    ("principalType not mapped", "infra/main.parameters.json", "${AZURE_PRINCIPAL_TYPE=User}",
     "User", "main.parameters.json: principalType from AZURE_PRINCIPAL_TYPE"),
    ("two calls per session", "host.json", '"maxConcurrentCallsPerSession": 1',
     '"maxConcurrentCallsPerSession": 2', "host.json: one call per session"),
    ("the host does not complete messages", "host.json", '"autoCompleteMessages": true',
     '"autoCompleteMessages": false', "host.json: the host completes on success"),
    ("the default 60 s session idle timeout", "host.json",
     '"sessionIdleTimeout": "00:00:00.0200000"', '"sessionIdleTimeout": "00:01:00"',
     "host.json: a short session idle timeout"),
    ("more sessions than the Durable SDK's pool", "host.json", '"maxConcurrentSessions": 24',
     '"maxConcurrentSessions": 128', "host.json: no more sessions than the Durable SDK's"),
    ("host.json pins the Azure Storage provider", "host.json", '"hubName": "%TASKHUB_NAME%"',
     '"hubName": "%TASKHUB_NAME%", "storageProvider": {"type": "AzureStorage"}',
     "host.json: no storageProvider type"),
    ("the preview bundle", "host.json", '"id": "Microsoft.Azure.Functions.ExtensionBundle"',
     '"id": "Microsoft.Azure.Functions.ExtensionBundle.Preview"', "host.json: the GA bundle"),
    ("renewal shorter than the deadline", "host.json", '"maxAutoLockRenewalDuration": "00:05:00"',
     '"maxAutoLockRenewalDuration": "00:00:10"', "lock renewal covers the handler deadline"),
    ("an unpinned image", "docker-compose.yml", "servicebus-emulator:1.1.2",
     "servicebus-emulator:latest", "docker-compose: every image pinned"),
    ("the emulator starts before SQL Server is ready", "docker-compose.yml",
     "      mssql:\n        condition: service_healthy", "      - mssql",
     "the Service Bus emulator waits for a healthy SQL Server"),
    ("azure-functions 1.x on Python 3.13", "requirements.txt",
     'azure-functions==2.3.0; python_version >= "3.13"', "",
     "Python 3.13 installs azure-functions 2.x"),
    ("azure-functions without markers", "requirements.txt",
     'azure-functions==1.26.0; python_version < "3.13"', "azure-functions==1.26.0",
     "Python 3.13 installs azure-functions 2.x"),
    ("the hook points a local run at the deployed queue", "infra/hooks/postprovision.sh",
     '"START_QUEUE_NAME": "${LOCAL_START_QUEUE_NAME}"', '"START_QUEUE_NAME": "start-requests"',
     "postprovision.sh (azureStorage): local queues"),
    ("the hook uses the cloud storage account", "infra/hooks/postprovision.sh",
     '"AzureWebJobsStorage": "UseDevelopmentStorage=true"',
     '"AzureWebJobsStorage__accountName": "st"', "host storage and outcomes in Azurite"),
    ("the Windows hook uses the deployed task hub", "infra/hooks/postprovision.ps1",
     'TASKHUB_NAME = $values["LOCAL_TASKHUB_NAME"]', 'TASKHUB_NAME = $values["TASKHUB_NAME"]',
     "postprovision.ps1: TASKHUB_NAME"),
    ("Config.json and Bicep disagree on the lock", "servicebus-emulator/Config.json",
     '"LockDuration": "PT1M"', '"LockDuration": "PT2M"', "Config.json LockDuration"),
]  # fmt: skip


def main() -> int:
    missed = 0
    for what, relative, text, replacement, expected in CASES:
        original = (ROOT / relative).read_text()
        if original.count(text) < 1:
            print(f"FAIL {what}: the text to break is not in {relative} any more")
            missed += 1
            continue
        broken = original.replace(text, replacement, 1)
        failed = [name for name, ok, _ in all_checks(Files({relative: broken})) if not ok]
        caught = [name for name in failed if expected in name]
        verdict = caught[0] if caught else f"not caught ({', '.join(failed)[:200]})"
        print(f"{'ok  ' if caught else 'FAIL'} broken on purpose: {what} -> {verdict}")
        missed += 0 if caught else 1
    print(f"{len(CASES)} negative cases, {missed} not caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
