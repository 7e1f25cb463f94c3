// Clment: one regional plane per deployment (one azd environment per region: us, eu, au).
// Everything a plane stores or processes stays in its region's geography; the only second region
// is the paired failover region of the same geography (Cosmos DB read/failover region; storage and
// backup geo copies go to the Azure paired region, also inside the geography).
targetScope = 'subscription'

@description('azd environment name (AZURE_ENV_NAME); also feeds every resource name.')
@minLength(1)
@maxLength(40)
param environmentName string

@description('Primary Azure region (AZURE_LOCATION); must be the primary region of clmentRegion.')
param location string

@description('Object ID of the principal running azd (AZURE_PRINCIPAL_ID); empty to skip its Key Vault grant.')
param principalId string = ''

@description('User or ServicePrincipal (AZURE_PRINCIPAL_TYPE).')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('The plane: us, eu or au (CLMENT_REGION).')
@allowed([
  'us'
  'eu'
  'au'
])
param clmentRegion string

@description('Cosmos DB failover region; empty takes the region table value, anything else must equal it.')
param failoverLocation string = ''

@description('Identity server issuer (iss claim), exact match.')
param authIssuer string

@description('Audience that API access tokens must contain.')
param authAudience string = 'clment-api'

@description('Identity server JWKS URL (https).')
param authJwksUrl string

@description('Audience of operator tokens.')
param operatorAudience string = 'clment-operator'

@description('Chat model (structured outputs required). gpt-4o 2024-11-20 is the one current chat model offered as DataZoneStandard in eastus2 and westeurope AND as regional Standard in australiaeast; re-check its retirement date before deploying.')
param chatModelName string = 'gpt-4o'

@description('Chat model version.')
param chatModelVersion string = '2024-11-20'

@description('Chat capacity (thousands of tokens per minute).')
@minValue(1)
param chatCapacity int = 50

@description('Embedding model.')
param embeddingModelName string = 'text-embedding-3-small'

@description('Embedding model version.')
param embeddingModelVersion string = '1'

@description('Embedding capacity (thousands of tokens per minute).')
@minValue(1)
param embeddingCapacity int = 100

@description('Embedding vector length (text-embedding-3-small: up to 1536).')
param embeddingDimensions int = 1536

@description('Public network access of the data services. Enabled in this first cut: Flex Consumption without VNet integration has no private path (access is Entra ID + RBAC only).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('AI Search tier.')
@allowed([
  'basic'
  'standard'
])
param searchSku string = 'basic'

@description('AI Search replicas (1 = no SLA, cheapest; 2 = read SLA; 3 = read-write SLA).')
@minValue(1)
@maxValue(3)
param searchReplicaCount int = 1

@description('Cosmos DB autoscale maximum RU/s for the database (shared by its containers).')
@minValue(1000)
param cosmosMaxThroughput int = 1000

@description('Zone-redundant Flex Consumption plan. Off by default: with zone redundancy the platform keeps at least two always-ready instances per function group, billed around the clock.')
param functionZoneRedundant bool = false

@description('Flex Consumption maximum instance count.')
@minValue(40)
@maxValue(1000)
param functionMaximumInstanceCount int = 100

@description('Azure Backup vaulted backup of Cosmos DB (preview; fails today on hierarchical partition keys; see docs/operations.md).')
param enableCosmosVaultedBackup bool = false

@description('Daily Data Factory export of every Cosmos DB container to the DATA account (cosmos-backups/, kept 90 days): the 90-day leg of the Cosmos backup. See docs/operations.md for its limits.')
param enableCosmosExport bool = true

// Region table: primary + failover (same geography) and the Azure OpenAI deployment type that keeps
// model processing in the geography (Australia has no data zone, so the regional Standard type).
// cosmosExportHourUtc: local small hours for the daily Cosmos DB export (a full scan of every
// container competes with the app for the database's shared RU/s).
var regionTable = {
  us: {
    primaryLocation: 'eastus2'
    failoverLocation: 'westus3'
    aiDeploymentType: 'DataZoneStandard'
    failoverZoneRedundant: true
    cosmosExportHourUtc: 8 // 03:00 EST / 04:00 EDT
  }
  eu: {
    primaryLocation: 'westeurope'
    failoverLocation: 'northeurope'
    aiDeploymentType: 'DataZoneStandard'
    failoverZoneRedundant: true
    cosmosExportHourUtc: 1 // 02:00 CET / 03:00 CEST
  }
  au: {
    primaryLocation: 'australiaeast'
    failoverLocation: 'australiasoutheast'
    aiDeploymentType: 'Standard'
    failoverZoneRedundant: false
    cosmosExportHourUtc: 16 // 02:00 AEST / 03:00 AEDT
  }
}

var region = regionTable[clmentRegion]

// Guards. Each lookup table has exactly one key, so a location that is not this region's primary
// (or failover) fails the deployment before anything is created, with an ARM error like
// "The language expression property 'westus' doesn't exist, available properties are 'eastus2'".
var primaryGuard = {
  '${region.primaryLocation}': region.primaryLocation
}
var failoverGuard = {
  '${region.failoverLocation}': region.failoverLocation
}
var primaryLocation = primaryGuard[toLower(location)]
var cosmosFailoverLocation = failoverGuard[empty(failoverLocation) ? region.failoverLocation : toLower(failoverLocation)]

var token = toLower(uniqueString(subscription().id, environmentName))
var tags = {
  'azd-env-name': environmentName
  app: 'clment'
  'clment-region': clmentRegion
}

var names = {
  resourceGroup: 'rg-clment-${environmentName}'
  logAnalytics: 'log-clment-${token}'
  appInsights: 'appi-clment-${token}'
  dataStorage: 'stclmentd${token}'
  hostStorage: 'stclmenth${token}'
  cosmos: 'cosmos-clment-${token}'
  search: 'srch-clment-${token}'
  openAi: 'oai-clment-${token}'
  keyVault: 'kv-clment-${token}'
  plan: 'plan-clment-${token}'
  functionApp: 'func-clment-${token}'
  systemTopic: 'evgt-clment-${token}'
  backupVault: 'bvault-clment-${token}'
  dataFactory: 'adf-clment-${token}'
}

var contractsContainer = 'contracts'
var deadLetterContainer = 'eventgrid-deadletter'
// Daily Cosmos DB exports. The container and its 90-day lifecycle rule exist even with
// enableCosmosExport=false, so turning the export off never leaves exports that never expire.
var cosmosBackupContainer = 'cosmos-backups'
// Every container but `audit`: its hierarchical partition key is reported not to work with Data
// Factory's Cosmos connector, and its 90-day copy is the bundle's own audit archive (below), written
// hourly by the audit-digest timer and verifiable with `handler verify-export`.
var cosmosExportContainers = [
  'contracts'
  'orgs'
  'apiKeys'
  'auditHeads'
  'reviews'
]
// The audit trail's 90-day copy (clment_azure::audit_archive::ARCHIVE_CONTAINER).
var auditArchiveContainer = 'audit-archive'
var jobsQueue = 'clment-jobs'
var deploymentContainer = 'app-package-api-${token}'
var cosmosDatabase = 'clment'
var auditSigningSecretName = 'audit-signing-key'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: names.resourceGroup
  location: primaryLocation
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: primaryLocation
    tags: tags
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
  }
}

// DATA account. GZRS, not ZRS: zone-redundant in the primary region AND an asynchronous copy in the
// Azure paired region, which is in the same geography for all three planes (eastus2 -> centralus,
// westeurope -> northeurope, australiaeast -> australiasoutheast), so residency holds and a regional
// loss is survivable. (The storage pair of eastus2 is centralus, not the Cosmos failover westus3.)
module dataStorage 'modules/storage.bicep' = {
  name: 'storage-data'
  scope: rg
  params: {
    name: names.dataStorage
    location: primaryLocation
    tags: tags
    skuName: 'Standard_GZRS'
    publicNetworkAccess: publicNetworkAccess
    containers: [
      contractsContainer
      deadLetterContainer
      cosmosBackupContainer
      auditArchiveContainer
    ]
    queues: [
      jobsQueue
    ]
    dataProtection: true
    softDeleteDays: 90
    previousVersionDeleteDays: 90
    expiringContainerName: deadLetterContainer
    backupContainerName: cosmosBackupContainer
    auditArchiveContainerName: auditArchiveContainer
    backupRetentionDays: 90
  }
}

// HOST account (AzureWebJobsStorage + deployment package): also GZRS. Its data is small and
// mostly rebuildable, but keeping the package and host state across a regional failover is cheap.
module hostStorage 'modules/storage.bicep' = {
  name: 'storage-host'
  scope: rg
  params: {
    name: names.hostStorage
    location: primaryLocation
    tags: tags
    skuName: 'Standard_GZRS'
    publicNetworkAccess: publicNetworkAccess
    containers: [
      deploymentContainer
    ]
    dataProtection: false
    softDeleteDays: 7
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: names.cosmos
    location: primaryLocation
    failoverLocation: cosmosFailoverLocation
    failoverZoneRedundant: region.failoverZoneRedundant
    tags: tags
    databaseName: cosmosDatabase
    maxThroughput: cosmosMaxThroughput
    publicNetworkAccess: publicNetworkAccess
  }
}

module search 'modules/search.bicep' = {
  name: 'search'
  scope: rg
  params: {
    name: names.search
    location: primaryLocation
    tags: tags
    sku: searchSku
    replicaCount: searchReplicaCount
    publicNetworkAccess: publicNetworkAccess
  }
}

module openAi 'modules/openai.bicep' = {
  name: 'openai'
  scope: rg
  params: {
    name: names.openAi
    location: primaryLocation
    tags: tags
    publicNetworkAccess: publicNetworkAccess
    deploymentType: region.aiDeploymentType
    chatModelName: chatModelName
    chatModelVersion: chatModelVersion
    chatCapacity: chatCapacity
    embeddingModelName: embeddingModelName
    embeddingModelVersion: embeddingModelVersion
    embeddingCapacity: embeddingCapacity
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.keyVault
    location: primaryLocation
    tags: tags
    publicNetworkAccess: publicNetworkAccess
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: names.functionApp
    planName: names.plan
    location: primaryLocation
    tags: tags
    hostBlobEndpoint: hostStorage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainer
    maximumInstanceCount: functionMaximumInstanceCount
    instanceMemoryMB: 4096
    zoneRedundant: functionZoneRedundant
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    functionPrincipalId: functionApp.outputs.principalId
    dataStorageName: dataStorage.outputs.name
    hostStorageName: hostStorage.outputs.name
    cosmosName: cosmos.outputs.name
    cosmosDatabaseName: cosmos.outputs.databaseName
    searchName: search.outputs.name
    openAiName: openAi.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module events 'modules/events.bicep' = {
  name: 'events'
  scope: rg
  params: {
    name: names.systemTopic
    location: primaryLocation
    tags: tags
    dataStorageName: dataStorage.outputs.name
    deadLetterContainerName: deadLetterContainer
  }
}

module appSettings 'modules/appsettings.bicep' = {
  name: 'appsettings'
  scope: rg
  params: {
    functionAppName: functionApp.outputs.name
    clmentRegion: clmentRegion
    dataStorageName: dataStorage.outputs.name
    hostStorageName: hostStorage.outputs.name
    cosmosName: cosmos.outputs.name
    cosmosDatabaseName: cosmos.outputs.databaseName
    searchName: search.outputs.name
    openAiName: openAi.outputs.name
    chatDeploymentName: openAi.outputs.chatDeploymentName
    embeddingDeploymentName: openAi.outputs.embeddingDeploymentName
    embeddingDimensions: embeddingDimensions
    aiDeploymentType: region.aiDeploymentType
    keyVaultName: keyVault.outputs.name
    auditSigningSecretName: auditSigningSecretName
    appInsightsName: monitoring.outputs.appInsightsName
    authIssuer: authIssuer
    authAudience: authAudience
    authJwksUrl: authJwksUrl
    operatorAudience: operatorAudience
  }
  dependsOn: [
    roles
  ]
}

module backup 'modules/backup.bicep' = if (enableCosmosVaultedBackup) {
  name: 'backup'
  scope: rg
  params: {
    name: names.backupVault
    location: primaryLocation
    tags: tags
    cosmosName: cosmos.outputs.name
  }
}

// Daily logical export of the Cosmos DB containers (Data Factory, factory managed identity) into
// the DATA account's cosmos-backups container. After `roles`: Cosmos DB serialises control-plane
// operations per account, and both modules create SQL role assignments on it.
module cosmosExport 'modules/cosmos-export.bicep' = if (enableCosmosExport) {
  name: 'cosmos-export'
  scope: rg
  params: {
    name: names.dataFactory
    location: primaryLocation
    tags: tags
    publicNetworkAccess: publicNetworkAccess
    cosmosName: cosmos.outputs.name
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    containerNames: cosmosExportContainers
    dataStorageName: dataStorage.outputs.name
    blobEndpoint: dataStorage.outputs.blobEndpoint
    backupContainerName: cosmosBackupContainer
    scheduleHourUtc: region.cosmosExportHourUtc
    logAnalyticsId: monitoring.outputs.logAnalyticsId
  }
  dependsOn: [
    roles
  ]
}

// azd stores these in the environment (.azure/<env>/.env); the hooks read them.
output AZURE_LOCATION string = primaryLocation
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output CLMENT_REGION string = clmentRegion
output CLMENT_FAILOVER_LOCATION string = cosmosFailoverLocation
output CLMENT_AI_DEPLOYMENT_TYPE string = region.aiDeploymentType
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = functionApp.outputs.uri
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output CLMENT_AUDIT_SIGNING_SECRET_NAME string = auditSigningSecretName
output AZURE_DATA_STORAGE_ACCOUNT_NAME string = dataStorage.outputs.name
output AZURE_HOST_STORAGE_ACCOUNT_NAME string = hostStorage.outputs.name
output CLMENT_CONTRACTS_CONTAINER string = contractsContainer
output CLMENT_DEAD_LETTER_CONTAINER string = deadLetterContainer
output AZURE_EVENTGRID_SYSTEM_TOPIC_NAME string = events.outputs.name
output AZURE_COSMOS_ACCOUNT_NAME string = cosmos.outputs.name
output AZURE_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output AZURE_SEARCH_SERVICE_NAME string = search.outputs.name
output AZURE_SEARCH_ENDPOINT string = search.outputs.endpoint
output AZURE_OPENAI_ACCOUNT_NAME string = openAi.outputs.name
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.endpoint
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.appInsightsName
output CLMENT_AZURE_PLACEMENT string = appSettings.outputs.placement
output CLMENT_COSMOS_BACKUP_CONTAINER string = cosmosBackupContainer
// Empty when enableCosmosExport=false; the postprovision hook then skips the trigger start.
output AZURE_DATA_FACTORY_NAME string = enableCosmosExport ? cosmosExport.outputs.factoryName : ''
output CLMENT_COSMOS_EXPORT_PIPELINE string = enableCosmosExport ? cosmosExport.outputs.pipelineName : ''
output CLMENT_COSMOS_EXPORT_TRIGGER string = enableCosmosExport ? cosmosExport.outputs.triggerName : ''
