// Azure OpenAI account (kind 'OpenAI', not 'AIServices'): the plane needs only two model deployments
// reached on https://<name>.openai.azure.com (the form CLMENT_FOUNDRY_ENDPOINT / CLMENT_EMBEDDING_ENDPOINT
// expect). 'AIServices' would add Speech, Vision, Language, agents and Foundry projects, none of which
// the app uses, so the smaller surface wins; switch kind only when a Foundry project is needed.
//
// Residency: sku.name of each deployment is the region's deployment type:
//   DataZoneStandard (US, EU): processing stays inside the US / EU data zone.
//   Standard (AU, "regional"): processing stays in the resource's region (Australia has no data zone).
// Data at rest (fine-tuning files, stored completions - the handler sends store:false) stays in the
// resource's geography for every type. Global types are never used.

@description('Account name; also its custom subdomain (globally unique).')
param name string

@description('Region of the plane.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Enabled (no VNet in this first cut) or Disabled (private endpoints only).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('Deployment type of both deployments: DataZoneStandard (US, EU) or Standard (regional; AU).')
@allowed([
  'DataZoneStandard'
  'Standard'
])
param deploymentType string

@description('Chat deployment name (CLMENT_FOUNDRY_DEPLOYMENT).')
param chatDeploymentName string = 'chat'

@description('Chat model name (needs structured outputs).')
param chatModelName string

@description('Chat model version.')
param chatModelVersion string

@description('Chat capacity in units of 1,000 tokens per minute.')
@minValue(1)
param chatCapacity int

@description('Embedding deployment name (CLMENT_EMBEDDING_DEPLOYMENT).')
param embeddingDeploymentName string = 'embedding'

@description('Embedding model name (text-embedding-3-* supports the dimensions parameter).')
param embeddingModelName string

@description('Embedding model version.')
param embeddingModelVersion string

@description('Embedding capacity in units of 1,000 tokens per minute.')
@minValue(1)
param embeddingCapacity int

resource account 'Microsoft.CognitiveServices/accounts@2025-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: publicNetworkAccess
    restrictOutboundNetworkAccess: true
    allowedFqdnList: []
    networkAcls: {
      defaultAction: 'Allow'
      ipRules: []
      virtualNetworkRules: []
    }
  }
}

// The embedding model must not be swapped under the index (vectors of another model are not
// comparable), hence NoAutoUpgrade. The chat deployment follows the platform when its version retires.
resource embedding 'Microsoft.CognitiveServices/accounts/deployments@2025-06-01' = {
  parent: account
  name: embeddingDeploymentName
  sku: {
    name: deploymentType
    capacity: embeddingCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: embeddingModelName
      version: embeddingModelVersion
    }
    versionUpgradeOption: 'NoAutoUpgrade'
    raiPolicyName: 'Microsoft.DefaultV2'
  }
}

// Deployments on one account must be created one after another: concurrent creation fails.
resource chat 'Microsoft.CognitiveServices/accounts/deployments@2025-06-01' = {
  parent: account
  name: chatDeploymentName
  sku: {
    name: deploymentType
    capacity: chatCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: chatModelName
      version: chatModelVersion
    }
    versionUpgradeOption: 'OnceCurrentVersionExpired'
    raiPolicyName: 'Microsoft.DefaultV2'
  }
  dependsOn: [
    embedding
  ]
}

output id string = account.id
output name string = account.name
output endpoint string = 'https://${name}.openai.azure.com'
output chatDeploymentName string = chat.name
output embeddingDeploymentName string = embedding.name
