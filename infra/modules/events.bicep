// Event Grid system topic on the DATA storage account. The event subscription that pushes
// BlobCreated events for the `contracts` container to the function's blob-trigger webhook is created
// after the code is deployed (infra/eventgrid.bicep, run by the azd postdeploy hook), because the
// webhook needs the host's `blobs_extension` system key, which exists only once the host has started.
//
// Dead letters go to a container of the DATA account, written with the topic's managed identity
// (deadLetterWithResourceIdentity), so no storage key or SAS is involved. The identity gets Storage
// Blob Data Contributor on that one container only.

@description('System topic name.')
param name string

@description('Region of the plane (a system topic lives where its source account is).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('DATA storage account name (the event source).')
param dataStorageName string

@description('Dead-letter container in the DATA account.')
param deadLetterContainerName string

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor

resource dataStorage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: dataStorageName
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' existing = {
  name: '${dataStorageName}/default/${deadLetterContainerName}'
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: dataStorage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource topicDeadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: deadLetterContainer
  name: guid(deadLetterContainer.id, name, storageBlobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = topic.name
output id string = topic.id
output principalId string = topic.identity.principalId
