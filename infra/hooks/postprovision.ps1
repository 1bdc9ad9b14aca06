# After `azd provision` (Windows): the same local.settings.json as postprovision.sh, isolated
# from the deployed app (local queues and task hub; host storage and outcomes in Azurite).
$ErrorActionPreference = "Stop"
$values = @{}
azd env get-values | ForEach-Object {
    if ($_ -match '^([^=]+)="?(.*?)"?$') { $values[$Matches[1]] = $Matches[2] }
}
$settings = [ordered]@{
    FUNCTIONS_WORKER_RUNTIME = "python"
    AzureWebJobsFeatureFlags = "EnableWorkerIndexing"
    AzureWebJobsStorage = "UseDevelopmentStorage=true"
    "ServiceBusConnection__fullyQualifiedNamespace" = $values["SERVICE_BUS_NAMESPACE"]
    TASKHUB_NAME = $values["LOCAL_TASKHUB_NAME"]
    START_QUEUE_NAME = $values["LOCAL_START_QUEUE_NAME"]
    EVENT_INBOX_QUEUE = $values["LOCAL_EVENT_INBOX_QUEUE"]
    OUTCOME_STORE = "table"
    OUTCOME_TABLE = $values["LOCAL_OUTCOME_TABLE"]
    STARTER_HANDLER_DEADLINE_S = "25"
    APPLICATIONINSIGHTS_CONNECTION_STRING = $values["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "Authorization=AAD"
}
if ($values["DURABLE_BACKEND"] -eq "durableTaskScheduler") {
    $provider = "AzureFunctionsJobHost__extensions__durableTask__storageProvider"
    $settings["${provider}__type"] = "azureManaged"
    $settings["${provider}__connectionStringName"] = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
    $settings["DURABLE_TASK_SCHEDULER_CONNECTION_STRING"] = "Endpoint=$($values["DURABLE_TASK_SCHEDULER_ENDPOINT"]);Authentication=DefaultAzure"
}
[ordered]@{ IsEncrypted = $false; Values = $settings } | ConvertTo-Json -Depth 4 | Set-Content -Path local.settings.json -Encoding utf8
Write-Output "wrote local.settings.json: local queues and task hub $($values["LOCAL_TASKHUB_NAME"]); start Azurite first"
