// Azure AI Search: one service per plane, identity-based data-plane access only.
// disableLocalAuth = true turns API keys off; authOptions must then be left unset (the two are
// mutually exclusive: authOptions only chooses between keys and keys+Entra ID).
// The index (contract-chunks) is created/updated by the handler at start-up from the schema in
// its code; the function identity gets Search Service Contributor + Search Index Data Contributor.

@description('Search service name (2-60 lowercase letters, digits, hyphens).')
param name string

@description('Region of the plane.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('basic is enough for the first tenants (15 indexes, 15 GB per partition); standard for more storage or partitions.')
@allowed([
  'basic'
  'standard'
])
param sku string = 'basic'

@description('Replicas. 1 keeps cost down but has no SLA; 2 gives the read SLA and 3 the read-write SLA (use 2+ in production).')
@minValue(1)
@maxValue(3)
param replicaCount int = 1

@description('Enabled (no VNet in this first cut) or Disabled (private endpoints only).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

resource search 'Microsoft.Search/searchServices@2025-05-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    replicaCount: replicaCount
    partitionCount: 1
    hostingMode: 'Default'
    disableLocalAuth: true
    // The handler uses plain keyword + vector (HNSW) queries; the semantic ranker is not used.
    semanticSearch: 'disabled'
    publicNetworkAccess: publicNetworkAccess
    networkRuleSet: {
      ipRules: []
      bypass: 'None'
    }
  }
}

output id string = search.id
output name string = search.name
output endpoint string = 'https://${search.name}.search.windows.net'
output principalId string = search.identity.principalId
