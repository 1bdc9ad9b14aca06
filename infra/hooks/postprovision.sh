#!/bin/sh
# After `azd provision`: a local.settings.json for Core Tools (`func start`) and the command
# line that can never take a deployed request. It names the local queues and task hub
# (your only roles), and keeps host storage and outcomes in Azurite. Sign in with `az login`.
set -eu
eval "$(azd env get-values)"
scheduler_settings=""
if [ "${DURABLE_BACKEND:-azureStorage}" = "durableTaskScheduler" ]; then
  provider="AzureFunctionsJobHost__extensions__durableTask__storageProvider"
  scheduler_settings="\"${provider}__type\": \"azureManaged\",
    \"${provider}__connectionStringName\": \"DURABLE_TASK_SCHEDULER_CONNECTION_STRING\",
    \"DURABLE_TASK_SCHEDULER_CONNECTION_STRING\": \"Endpoint=${DURABLE_TASK_SCHEDULER_ENDPOINT};Authentication=DefaultAzure\","
fi
cat > local.settings.json <<JSON
{
  "IsEncrypted": false,
  "Values": {
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "AzureWebJobsFeatureFlags": "EnableWorkerIndexing",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "ServiceBusConnection__fullyQualifiedNamespace": "${SERVICE_BUS_NAMESPACE}",
    ${scheduler_settings}
    "TASKHUB_NAME": "${LOCAL_TASKHUB_NAME}",
    "START_QUEUE_NAME": "${LOCAL_START_QUEUE_NAME}",
    "EVENT_INBOX_QUEUE": "${LOCAL_EVENT_INBOX_QUEUE}",
    "OUTCOME_STORE": "table",
    "OUTCOME_TABLE": "${LOCAL_OUTCOME_TABLE}",
    "STARTER_HANDLER_DEADLINE_S": "25",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "${APPLICATIONINSIGHTS_CONNECTION_STRING}",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD"
  }
}
JSON
echo "wrote local.settings.json: local queues ${LOCAL_START_QUEUE_NAME} and ${LOCAL_EVENT_INBOX_QUEUE}, task hub ${LOCAL_TASKHUB_NAME} (${DURABLE_BACKEND:-azureStorage}); start Azurite first"
