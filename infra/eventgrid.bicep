// Post-deploy step (run by infra/hooks/postdeploy.sh with `az deployment group create`):
// the Event Grid subscription that delivers BlobCreated events of the `contracts` container to the
// Event Grid-based blob trigger of the `index-contract` function.
//
// It cannot be part of main.bicep: the webhook URL carries the host's `blobs_extension` system key,
// and that key exists only after the code is deployed and the host has started with the blob
// extension loaded. Event Grid also validates the endpoint when the subscription is created, which
// needs the running host. Re-running this deployment is idempotent (same subscription, refreshed key).
targetScope = 'resourceGroup'

@description('Function app name (AZURE_FUNCTION_APP_NAME).')
param functionAppName string

@description('Event Grid system topic on the DATA account (AZURE_EVENTGRID_SYSTEM_TOPIC_NAME).')
param systemTopicName string

@description('DATA storage account name (AZURE_DATA_STORAGE_ACCOUNT_NAME).')
param dataStorageName string

@description('Container whose new blobs are indexed.')
param contractsContainerName string = 'contracts'

@description('Dead-letter container in the DATA account (CLMENT_DEAD_LETTER_CONTAINER).')
param deadLetterContainerName string = 'eventgrid-deadletter'

@description('Blob-triggered function name (functions/index-contract).')
param functionName string = 'index-contract'

@description('Delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes an undelivered event is retried before it is dead-lettered.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

resource site 'Microsoft.Web/sites@2024-11-01' existing = {
  name: functionAppName
}

resource dataStorage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: dataStorageName
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

// The system key of the blob extension; listKeys fails (and so this deployment) until it exists.
var blobsExtensionKey = listKeys(resourceId('Microsoft.Web/sites/host', functionAppName, 'default'), '2024-11-01').systemKeys.blobs_extension

resource blobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'index-contract-blob-created'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${site.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${functionName}&code=${blobsExtensionKey}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
        minimumTlsVersionAllowed: '1.2'
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/${contractsContainerName}/blobs/'
      isSubjectCaseSensitive: false
      enableAdvancedFilteringOnArrays: true
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    // Dead letters are written with the topic's managed identity (no key, no SAS); the identity has
    // Storage Blob Data Contributor on this one container (modules/events.bicep).
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: dataStorage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output subscriptionName string = blobCreated.name
