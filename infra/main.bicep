// The deployment: one resource group holding the app and what it needs. `azd up` runs it.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('The azd environment name: it names the resource group and the resources.')
param environmentName string

// Regions that offer Flex Consumption, as Microsoft's Flex azd templates list them. The
// Durable Task Scheduler is offered in most regions (docs/deployment.md: Regions).
@minLength(1)
@description('The region for every resource (one that offers Flex Consumption).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('The deploying developer (azd sets it): gets data roles on the local queues and task hub only, never on what the deployed app uses.')
param principalId string = ''

@description('What principalId is (azd sets AZURE_PRINCIPAL_TYPE): ServicePrincipal when a pipeline provisions.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('The Durable Functions backend: Azure Storage (in the app storage account) or the Durable Task Scheduler.')
@allowed([
  'azureStorage'
  'durableTaskScheduler'
])
param durableBackend string = 'azureStorage'

@description('The Durable Task Scheduler SKU (with durableBackend durableTaskScheduler).')
@allowed([
  'Consumption'
  'Dedicated'
])
param schedulerSku string = 'Consumption'

@description('Capacity units of a Dedicated scheduler.')
@minValue(1)
param schedulerCapacity int = 1

@description('Always-ready instances for the durable group (orchestrators, activities). Microsoft advises 1 for the Azure Storage backend on Flex; each costs a baseline while idle.')
@minValue(0)
param durableAlwaysReady int = 1

@description('The Python version Flex runs (3.13 uses the azure-functions 2.x line, chosen by the environment markers in requirements.txt).')
@allowed([
  '3.10'
  '3.11'
  '3.12'
  '3.13'
])
param pythonVersion string = '3.13'

@description('Storage replication; empty picks Standard_ZRS where the region has availability zones, else Standard_LRS.')
@allowed([
  ''
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSku string = ''

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
// Flex regions without availability zones, where zone-redundant storage cannot be created.
var regionsWithoutZones = [
  'australiasoutheast'
  'northcentralus'
  'southindia'
  'ukwest'
  'westcentralus'
  'westus'
]
var storageSkuChosen = !empty(storageSku)
var regionHasZones = !contains(regionsWithoutZones, location)
var storageReplication = storageSkuChosen ? storageSku : (regionHasZones ? 'Standard_ZRS' : 'Standard_LRS')

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
    principalType: principalType
    durableBackend: durableBackend
    schedulerSku: schedulerSku
    schedulerCapacity: schedulerCapacity
    durableAlwaysReady: durableAlwaysReady
    pythonVersion: pythonVersion
    storageSku: storageReplication
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
output DURABLE_BACKEND string = durableBackend
output DURABLE_TASK_SCHEDULER_ENDPOINT string = resources.outputs.schedulerEndpoint
output LOCAL_START_QUEUE_NAME string = resources.outputs.localStartQueueName
output LOCAL_EVENT_INBOX_QUEUE string = resources.outputs.localEventInboxQueueName
output LOCAL_TASKHUB_NAME string = resources.outputs.localTaskHubName
output LOCAL_OUTCOME_TABLE string = resources.outputs.localOutcomeTable
output APPLICATIONINSIGHTS_CONNECTION_STRING string = resources.outputs.appInsightsConnectionString
