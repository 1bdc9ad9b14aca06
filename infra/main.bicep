// The deployment: one resource group holding the app and what it needs. `azd up` runs it.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('The azd environment name: it names the resource group and the resources.')
param environmentName string

@minLength(1)
@description('The region for every resource (one that offers Flex Consumption).')
param location string

@description('The deploying developer (azd sets it): gets the same data roles as the app, so a local run reaches the cloud resources.')
param principalId string = ''

@description('An optional producer (a service principal or managed identity) allowed to send start requests.')
param producerPrincipalId string = ''

@description('Where alerts go (an email address); empty means the alerts fire without notifying anyone.')
param alertEmail string = ''

@description('Queue lock duration (ISO 8601). Must stay well above the handler deadline (STARTER_HANDLER_DEADLINE_S, 25 s) and agree with host.json maxAutoLockRenewalDuration.')
param lockDuration string = 'PT1M'

@description('Deliveries before Service Bus dead-letters a start request.')
param maxDeliveryCount int = 10

@description('Time-to-live of a start request on the queue (ISO 8601).')
param messageTimeToLive string = 'PT1H'

@description('Duplicate-detection window (ISO 8601): retried sends with the same MessageId within it are dropped.')
param duplicateDetectionWindow string = 'PT10M'

@description('Active messages on the start queue above which the backlog alert fires.')
param backlogAlertThreshold int = 1000

var tags = { 'azd-env-name': environmentName }

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'resources'
  scope: group
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    principalId: principalId
    producerPrincipalId: producerPrincipalId
    alertEmail: alertEmail
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
    messageTimeToLive: messageTimeToLive
    duplicateDetectionWindow: duplicateDetectionWindow
    backlogAlertThreshold: backlogAlertThreshold
  }
}

output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output STARTER_APP_URL string = resources.outputs.appUrl
output SERVICE_BUS_NAMESPACE string = resources.outputs.serviceBusNamespace
output START_QUEUE_NAME string = resources.outputs.startQueueName
output EVENT_INBOX_QUEUE string = resources.outputs.eventInboxQueueName
output STORAGE_ACCOUNT_NAME string = resources.outputs.storageAccountName
output TASKHUB_NAME string = resources.outputs.taskHubName
output APPLICATIONINSIGHTS_CONNECTION_STRING string = resources.outputs.appInsightsConnectionString
