# After `azd provision` (Windows): the same local.settings.json as postprovision.sh.
$ErrorActionPreference = "Stop"
$values = @{}
azd env get-values | ForEach-Object {
    if ($_ -match '^([^=]+)="?(.*?)"?$') { $values[$Matches[1]] = $Matches[2] }
}
$settings = [ordered]@{
    IsEncrypted = $false
    Values = [ordered]@{
        FUNCTIONS_WORKER_RUNTIME = "python"
        AzureWebJobsFeatureFlags = "EnableWorkerIndexing"
        "AzureWebJobsStorage__accountName" = $values["STORAGE_ACCOUNT_NAME"]
        "ServiceBusConnection__fullyQualifiedNamespace" = $values["SERVICE_BUS_NAMESPACE"]
        TASKHUB_NAME = "$($values["TASKHUB_NAME"])Local"
        START_QUEUE_NAME = $values["START_QUEUE_NAME"]
        EVENT_INBOX_QUEUE = $values["EVENT_INBOX_QUEUE"]
        OUTCOME_STORE = "table"
        STARTER_APP_URL = $values["STARTER_APP_URL"]
        APPLICATIONINSIGHTS_CONNECTION_STRING = $values["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    }
}
$settings | ConvertTo-Json -Depth 4 | Set-Content -Path local.settings.json -Encoding utf8
Write-Output "wrote local.settings.json for $($values["AZURE_FUNCTION_APP_NAME"])"
