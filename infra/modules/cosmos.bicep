// Azure Cosmos DB for NoSQL: one account per plane, one write region + one read/failover region in
// the same geography. The app relies on a single write region (audit appends use the create's
// uniqueness check), so multiple write locations must stay off.
//
// Throughput: provisioned, shared at database level with autoscale. Serverless would be cheaper at
// low volume but a serverless account is single-region only, which rules out the failover region.
//
// Backup: Continuous30Days (point-in-time restore to a NEW account, any second of the last 30 days).
// That is the longest native window (periodic mode tops out at 720 h). Days 31-90 come from the daily
// Data Factory export (cosmos-export.bicep); see backup.bicep and docs/operations.md for why Azure
// Backup's vaulted Cosmos backup cannot give us 90 days today, and for the export's limits.

@description('Cosmos DB account name (3-44 lowercase letters, digits, hyphens).')
param name string

@description('Primary (write) region; also the account ARM location.')
param location string

@description('Failover (read) region in the same geography.')
param failoverLocation string

@description('Tags applied to every resource.')
param tags object

@description('Zone redundancy in the primary region.')
param primaryZoneRedundant bool = true

@description('Zone redundancy in the failover region (australiasoutheast has no availability zones).')
param failoverZoneRedundant bool = true

@description('Database name (the handler reads CLMENT_AZURE_COSMOS_DATABASE).')
param databaseName string = 'clment'

@description('Autoscale maximum RU/s shared by all containers (scales between 10% of this and this).')
@minValue(1000)
param maxThroughput int = 1000

@description('Enabled (no VNet in this first cut) or Disabled (private endpoints only).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

// The containers and their partition keys. These must match the handler's constants exactly
// (handlers/azure: cosmos.rs, tenants.rs, audit.rs, reviews.rs); a Rust test reads this list.
// One container per line: name, partition key path(s), partition key kind.
var containers = [
  { name: 'contracts', paths: ['/orgId'], kind: 'Hash' }
  { name: 'orgs', paths: ['/orgId'], kind: 'Hash' }
  { name: 'apiKeys', paths: ['/id'], kind: 'Hash' }
  { name: 'audit', paths: ['/orgId', '/bucket'], kind: 'MultiHash' }
  { name: 'auditHeads', paths: ['/orgId'], kind: 'Hash' }
  { name: 'reviews', paths: ['/orgId'], kind: 'Hash' }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2025-04-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: primaryZoneRedundant
      }
      {
        locationName: failoverLocation
        failoverPriority: 1
        isZoneRedundant: failoverZoneRedundant
      }
    ]
    enableAutomaticFailover: true
    enableMultipleWriteLocations: false
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: publicNetworkAccess
    isVirtualNetworkFilterEnabled: false
    ipRules: []
    enableFreeTier: false
    enableAnalyticalStorage: false
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous30Days'
      }
    }
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2025-04-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: {
      autoscaleSettings: {
        maxThroughput: maxThroughput
      }
    }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2025-04-15' = [for c in containers: {
  parent: database
  name: c.name
  properties: {
    resource: {
      id: c.name
      partitionKey: {
        paths: c.paths
        kind: c.kind
        version: 2
      }
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: [
          {
            path: '/*'
          }
        ]
        excludedPaths: [
          {
            path: '/"_etag"/?'
          }
        ]
      }
    }
  }
}]

output id string = account.id
output name string = account.name
output databaseName string = database.name
// https://<account>.documents.azure.com (no port, no trailing slash).
output endpoint string = 'https://${account.name}.documents.azure.com'
