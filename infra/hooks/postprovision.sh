#!/bin/sh
# After `azd provision`: a local.settings.json that points a local run (Core Tools, or the
# command line) at the deployed resources, with identity-based settings: sign in with
# `az login`; the template gave you the same data roles as the app. No keys.
set -eu
eval "$(azd env get-values)"
cat > local.settings.json <<JSON
{
  "IsEncrypted": false,
  "Values": {
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "AzureWebJobsFeatureFlags": "EnableWorkerIndexing",
    "AzureWebJobsStorage__accountName": "${STORAGE_ACCOUNT_NAME}",
    "ServiceBusConnection__fullyQualifiedNamespace": "${SERVICE_BUS_NAMESPACE}",
    "TASKHUB_NAME": "${TASKHUB_NAME}Local",
    "START_QUEUE_NAME": "${START_QUEUE_NAME}",
    "EVENT_INBOX_QUEUE": "${EVENT_INBOX_QUEUE}",
    "OUTCOME_STORE": "table",
    "STARTER_APP_URL": "${STARTER_APP_URL}",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "${APPLICATIONINSIGHTS_CONNECTION_STRING}"
  }
}
JSON
echo "wrote local.settings.json for ${AZURE_FUNCTION_APP_NAME} (${AZURE_RESOURCE_GROUP})"
