// The app and its resources: identity-based connections everywhere, no keys, no secrets.

param environmentName string
param location string
param tags object
param principalId string
param principalType string
param durableBackend string
param schedulerSku string
param schedulerCapacity int
param durableAlwaysReady int
param pythonVersion string
param storageSku string
param producerPrincipalId string
param alertEmail string
param lockDuration string
param maxDeliveryCount int
param messageTimeToLive string
param duplicateDetectionWindow string
param backlogAlertThreshold int

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var startQueueName = 'start-requests'
var eventInboxQueueName = 'event-inbox'
var deploymentContainerName = 'app-package'
var taskHubName = 'SingletonStarterHub'
var outcomeTableName = 'StartOutcomes'
var useScheduler = durableBackend == 'durableTaskScheduler'
var useStorageBackend = !useScheduler
var withDeveloper = !empty(principalId)
var developerOnScheduler = useScheduler && withDeveloper
// A local run (func start, the command line) gets queues and a task hub of its own, so it
// never takes a deployed start request; its host storage and outcome table are Azurite.
var localStartQueueName = 'start-requests-local'
var localEventInboxQueueName = 'event-inbox-local'
var localTaskHubName = '${taskHubName}Local'
var localOutcomeTable = '${outcomeTableName}Local'

// Built-in roles, least privilege for what the app does.
var roles = {
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${token}'
  location: location
  tags: tags
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${token}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_59: Flex Consumption without a virtual network reaches storage over its public endpoint; shared keys are off, so every access is Entra ID through the roles below.
  // checkov:skip=CKV_AZURE_35: as above: the default network rule must admit the app's outbound addresses, which Flex Consumption does not fix without a virtual network (docs/deployment.md: Securing the HTTP API).
  // checkov:skip=CKV_AZURE_43: the name is 'st' plus uniqueString(), lowercase letters and digits, 15 characters: valid, but checkov cannot evaluate the expression.
  name: 'st${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  // checkov:skip=CKV_AZURE_206: replication is the storageSku parameter: ZRS where the region has zones, else LRS; geo-replication adds cost for state rebuilt from the queue.
  sku: {
    name: storageSku
  }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource outcomeTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: outcomeTableName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: 'sb-${token}'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

var startQueueProperties = {
  requiresSession: true
  requiresDuplicateDetection: true
  duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
  lockDuration: lockDuration
  maxDeliveryCount: maxDeliveryCount
  defaultMessageTimeToLive: messageTimeToLive
  deadLetteringOnMessageExpiration: true
  enablePartitioning: false
  enableBatchedOperations: true
}

var eventInboxProperties = {
  requiresSession: false
  requiresDuplicateDetection: true
  duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
  lockDuration: lockDuration
  maxDeliveryCount: maxDeliveryCount
  defaultMessageTimeToLive: messageTimeToLive
  deadLetteringOnMessageExpiration: true
  enablePartitioning: false
}

resource startQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: serviceBus
  name: startQueueName
  properties: startQueueProperties
}

resource eventInbox 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: serviceBus
  name: eventInboxQueueName
  properties: eventInboxProperties
}

resource localStartQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = if (withDeveloper) {
  parent: serviceBus
  name: localStartQueueName
  properties: startQueueProperties
}

resource localEventInbox 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = if (withDeveloper) {
  parent: serviceBus
  name: localEventInboxQueueName
  properties: eventInboxProperties
}

// -- the Durable Task Scheduler (durableBackend durableTaskScheduler) -------------------

var dedicatedScheduler = schedulerSku == 'Dedicated'
var dedicatedSchedulerSku = {
  name: 'Dedicated'
  capacity: schedulerCapacity
}
var consumptionSchedulerSku = {
  name: 'Consumption'
}

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = if (useScheduler) {
  name: 'dts-${token}'
  location: location
  tags: tags
  properties: {
    // Identity-based access only; an empty allow-list would refuse every caller.
    ipAllowlist: [
      '0.0.0.0/0'
    ]
    sku: dedicatedScheduler ? dedicatedSchedulerSku : consumptionSchedulerSku
  }
}

resource schedulerTaskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = if (useScheduler) {
  parent: scheduler
  name: taskHubName
}

resource localSchedulerTaskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = if (developerOnScheduler) {
  parent: scheduler
  name: localTaskHubName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy for Flex Consumption is a property of the function app (availability zones in supported regions), not of an FC1 plan in this API version.
  name: 'plan-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

// One app folder serves both backends: host.json names the Azure Storage provider (the
// default), and these settings override extensions.durableTask.storageProvider in the host.
var storageProviderSetting = 'AzureFunctionsJobHost__extensions__durableTask__storageProvider'
var schedulerSettings = [
  { name: '${storageProviderSetting}__type', value: 'azureManaged' }
  { name: '${storageProviderSetting}__connectionStringName', value: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING' }
  { name: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING', value: 'Endpoint=${scheduler.properties.endpoint};Authentication=ManagedIdentity;ClientID=${identity.properties.clientId}' }
]
// Flex guidance for the Azure Storage provider: poll the control queues at most a second
// apart (the default elsewhere is 30 s, longer than STARTER_REPLACE_WAIT_S).
var storageBackendSettings = [
  { name: '${storageProviderSetting}__maxQueuePollingInterval', value: '00:00:01' }
]
var commonSettings = [
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
  { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
  { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
  { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.properties.primaryEndpoints.table }
  { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: '${serviceBus.name}.servicebus.windows.net' }
  { name: 'ServiceBusConnection__credential', value: 'managedidentity' }
  { name: 'ServiceBusConnection__clientId', value: identity.properties.clientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
  { name: 'TASKHUB_NAME', value: taskHubName }
  { name: 'START_QUEUE_NAME', value: startQueueName }
  { name: 'EVENT_INBOX_QUEUE', value: eventInboxQueueName }
  { name: 'OUTCOME_STORE', value: 'table' }
  { name: 'OUTCOME_TABLE', value: outcomeTableName }
  { name: 'STARTER_HANDLER_DEADLINE_S', value: '25' }
]
var warmDurable = durableAlwaysReady > 0
var durableAlwaysReadyGroups = [
  {
    name: 'durable'
    instanceCount: durableAlwaysReady
  }
]

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: producers and Event Grid webhooks call the app over the internet; the API needs function keys (docs/deployment.md: Securing the HTTP API, for Entra ID and access restrictions).
  // checkov:skip=CKV_AZURE_17: client certificates are not used: producers authenticate with function keys or Entra ID.
  // checkov:skip=CKV_AZURE_212: Flex has no worker count; durableAlwaysReady (default 1) keeps one durable instance warm, and Flex scales out on demand (docs/deployment.md: Cost).
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not use the App Service health-check ping; failures surface through Application Insights and the alerts below.
  name: 'func-${token}'
  location: location
  tags: union(tags, { 'azd-service-name': 'app' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertMode: 'Optional'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 40
        instanceMemoryMB: 2048
        alwaysReady: warmDurable ? durableAlwaysReadyGroups : []
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: concat(commonSettings, useScheduler ? schedulerSettings : storageBackendSettings)
    }
  }
}

// Deploys use Entra ID (azd, the pipeline's identity): no FTP or SCM basic credentials.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// -- role assignments: the app ------------------------------------------------------------
// Data Owner on the two queues it reads: the Service Bus scale monitor reads message counts,
// which needs the Manage claim; without it Flex cannot scale the triggers with the backlog.

resource appStartQueueOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(startQueue.id, identity.properties.principalId, roles.serviceBusDataOwner)
  scope: startQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appEventInboxOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventInbox.id, identity.properties.principalId, roles.serviceBusDataOwner)
  scope: eventInbox
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The host's own storage (leases, keys, the deployment package): Microsoft's required role
// for an identity-based AzureWebJobsStorage.

resource appBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.properties.principalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The Azure Storage backend creates its task hub's queues and tables at run time.

resource appQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useStorageBackend) {
  name: guid(storage.id, identity.properties.principalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useStorageBackend) {
  name: guid(storage.id, identity.properties.principalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// With the scheduler, storage holds no Durable state: table access is the outcome table's.

resource appOutcomeTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useScheduler) {
  name: guid(outcomeTable.id, identity.properties.principalId, roles.storageTableDataContributor)
  scope: outcomeTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appTaskHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useScheduler) {
  name: guid(schedulerTaskHub.id, identity.properties.principalId, roles.durableTaskDataContributor)
  scope: schedulerTaskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.durableTaskDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appMetrics 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.properties.principalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// -- role assignments: the producer and the deploying developer ------------------------


resource producerStartQueueSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(producerPrincipalId)) {
  name: guid(startQueue.id, producerPrincipalId, roles.serviceBusDataSender)
  scope: startQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: producerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource producerEventInboxSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(producerPrincipalId)) {
  name: guid(eventInbox.id, producerPrincipalId, roles.serviceBusDataSender)
  scope: eventInbox
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: producerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The developer reaches only the local queues and the local task hub (docs/deployment.md).

resource developerLocalStartReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withDeveloper) {
  name: guid(localStartQueue.id, principalId, roles.serviceBusDataReceiver)
  scope: localStartQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: principalId
    principalType: principalType
  }
}

resource developerLocalStartSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withDeveloper) {
  name: guid(localStartQueue.id, principalId, roles.serviceBusDataSender)
  scope: localStartQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    principalType: principalType
  }
}

resource developerLocalInboxReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withDeveloper) {
  name: guid(localEventInbox.id, principalId, roles.serviceBusDataReceiver)
  scope: localEventInbox
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
    principalId: principalId
    principalType: principalType
  }
}

resource developerLocalInboxSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withDeveloper) {
  name: guid(localEventInbox.id, principalId, roles.serviceBusDataSender)
  scope: localEventInbox
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
    principalId: principalId
    principalType: principalType
  }
}

// Local telemetry to the same Application Insights (local auth is off there): Entra ID only.
resource developerMetrics 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withDeveloper) {
  name: guid(appInsights.id, principalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: principalId
    principalType: principalType
  }
}

resource developerLocalTaskHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (developerOnScheduler) {
  name: guid(localSchedulerTaskHub.id, principalId, roles.durableTaskDataContributor)
  scope: localSchedulerTaskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.durableTaskDataContributor)
    principalId: principalId
    principalType: principalType
  }
}


// -- alerts -------------------------------------------------------------------------------

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${token}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'starters'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource deadLetterAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-dead-letters-${token}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Start requests reached the dead-letter queue: each one is a request nobody decided. Inspect with `python -m starters dead-letters list`.'
    severity: 2
    enabled: true
    scopes: [
      serviceBus.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'deadLettered'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                startQueueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource backlogAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-backlog-${token}'
  location: 'global'
  tags: tags
  properties: {
    description: 'The start queue is backing up: requests wait longer than usual for a decision.'
    severity: 3
    enabled: true
    scopes: [
      serviceBus.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'backlog'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'ActiveMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                startQueueName
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: backlogAlertThreshold
          timeAggregation: 'Average'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

output functionAppName string = functionApp.name
output appUrl string = 'https://${functionApp.properties.defaultHostName}'
output serviceBusNamespace string = '${serviceBus.name}.servicebus.windows.net'
output startQueueName string = startQueueName
output eventInboxQueueName string = eventInboxQueueName
output storageAccountName string = storage.name
output taskHubName string = taskHubName
output schedulerEndpoint string = useScheduler ? scheduler.properties.endpoint : ''
output localStartQueueName string = localStartQueueName
output localEventInboxQueueName string = localEventInboxQueueName
output localTaskHubName string = localTaskHubName
output localOutcomeTable string = localOutcomeTable
output appInsightsConnectionString string = appInsights.properties.ConnectionString
