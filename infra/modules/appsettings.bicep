// The function app's settings, written after every role assignment exists. Nothing here is a
// secret: storage, Cosmos DB, Search and OpenAI are reached with the app's managed identity, the
// Application Insights connection string is only an identifier (local auth is off), and the audit
// signing key is a Key Vault reference resolved by the platform with the app's identity.
//
// CLMENT_AZURE_PLACEMENT is built from the locations the deployed resources REPORT (runtime reads
// of `existing` resources, normalised from display names such as "East US 2" to "eastus2"), not
// from the parameters, so the bundle can refuse to start if any resource sits outside its region's
// geography (e.g. a resource moved or recreated by hand).

@description('Function app name.')
param functionAppName string

@description('This plane: us, eu or au (CLMENT_REGION).')
@allowed([
  'us'
  'eu'
  'au'
])
param clmentRegion string

@description('DATA storage account name.')
param dataStorageName string

@description('HOST storage account name (AzureWebJobsStorage).')
param hostStorageName string

@description('Cosmos DB account name.')
param cosmosName string

@description('Cosmos DB database name.')
param cosmosDatabaseName string

@description('AI Search service name.')
param searchName string

@description('Search index name (created by the bundle at start-up).')
param searchIndexName string = 'contract-chunks'

@description('Azure OpenAI account name.')
param openAiName string

@description('Chat deployment name.')
param chatDeploymentName string

@description('Embedding deployment name.')
param embeddingDeploymentName string

@description('Length of the embedding vectors.')
param embeddingDimensions int = 1536

@description('Deployment type (sku) of both model deployments.')
param aiDeploymentType string

@description('Key Vault name.')
param keyVaultName string

@description('Name of the audit signing secret (created by the postprovision hook).')
param auditSigningSecretName string = 'audit-signing-key'

@description('Application Insights component name.')
param appInsightsName string

@description('Identity server issuer (iss), exact match.')
param authIssuer string

@description('Audience the API access tokens must carry.')
param authAudience string

@description('Identity server JWKS URL (https).')
param authJwksUrl string

@description('Audience of operator (support/admin) tokens.')
param operatorAudience string

@description('Extra settings merged last (for example CLMENT_RATE_LIMIT_RPS). Never put secrets here.')
param extraSettings object = {}

resource site 'Microsoft.Web/sites@2024-11-01' existing = {
  name: functionAppName
}

resource dataStorage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: dataStorageName
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2025-04-15' existing = {
  name: cosmosName
}

resource search 'Microsoft.Search/searchServices@2025-05-01' existing = {
  name: searchName
}

resource openAi 'Microsoft.CognitiveServices/accounts@2025-06-01' existing = {
  name: openAiName
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

var storageSuffix = environment().suffixes.storage
var dataBlobUrl = 'https://${dataStorageName}.blob.${storageSuffix}'
var dataQueueUrl = 'https://${dataStorageName}.queue.${storageSuffix}'

// Cosmos DB reports region display names; failoverPolicies lists every region (write region first).
var cosmosRegions = cosmos.properties.failoverPolicies

var placement = {
  locations: {
    functionApp: toLower(replace(site.location, ' ', ''))
    storage: toLower(replace(dataStorage.location, ' ', ''))
    cosmos: [
      toLower(replace(cosmosRegions[0].locationName, ' ', ''))
      toLower(replace(cosmosRegions[1].locationName, ' ', ''))
    ]
    search: toLower(replace(search.location, ' ', ''))
    openai: toLower(replace(openAi.location, ' ', ''))
    keyVault: toLower(replace(vault.location, ' ', ''))
  }
  aiDeployments: {
    chat: aiDeploymentType
    embedding: aiDeploymentType
  }
}

var settings = {
  // Functions host storage (identity-based).
  AzureWebJobsStorage__accountName: hostStorageName
  AzureWebJobsStorage__credential: 'managedidentity'
  // Trigger connection of run-job (queue) and index-contract (Event Grid blob trigger).
  ContractsStorage__blobServiceUri: dataBlobUrl
  ContractsStorage__queueServiceUri: dataQueueUrl
  ContractsStorage__credential: 'managedidentity'
  // Telemetry with Entra ID (the component has local auth disabled).
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
  // The bundle.
  CLMENT_BACKEND: 'azure'
  CLMENT_REGION: clmentRegion
  CLMENT_AZURE_BLOB_URL: dataBlobUrl
  CLMENT_AZURE_QUEUE_URL: dataQueueUrl
  CLMENT_AZURE_COSMOS_URL: 'https://${cosmosName}.documents.azure.com'
  CLMENT_AZURE_COSMOS_DATABASE: cosmosDatabaseName
  CLMENT_AZURE_SEARCH_URL: 'https://${searchName}.search.windows.net'
  CLMENT_AZURE_SEARCH_INDEX: searchIndexName
  CLMENT_EMBEDDING_ENDPOINT: 'https://${openAiName}.openai.azure.com'
  CLMENT_EMBEDDING_DEPLOYMENT: embeddingDeploymentName
  CLMENT_EMBEDDING_DIMENSIONS: string(embeddingDimensions)
  CLMENT_REVIEW_PROVIDER: 'foundry'
  CLMENT_FOUNDRY_ENDPOINT: 'https://${openAiName}.openai.azure.com'
  CLMENT_FOUNDRY_DEPLOYMENT: chatDeploymentName
  CLMENT_AUDIT_SIGNING_KEY: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${auditSigningSecretName})'
  CLMENT_AUTH_ISSUER: authIssuer
  CLMENT_AUTH_AUDIENCE: authAudience
  CLMENT_AUTH_JWKS_URL: authJwksUrl
  CLMENT_OPERATOR_AUDIENCE: operatorAudience
  CLMENT_LOG_FORMAT: 'json'
  CLMENT_AZURE_PLACEMENT: string(placement)
}

// checkov applies its web-app checks (auth, logging, TLS, .NET version, Azure Files, public access) to
// every Microsoft.Web/sites/config child; this one holds app settings only. The site itself is
// evaluated in functionapp.bicep.
resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  // checkov:skip=CKV_AZURE_13:not a site; authentication is done by the handler (JWT from the identity server, API keys)
  // checkov:skip=CKV_AZURE_63:not a site; logs go to Application Insights from the Functions host
  // checkov:skip=CKV_AZURE_65:not a site; detailed error pages do not apply to a Functions custom handler
  // checkov:skip=CKV_AZURE_66:not a site; failed-request tracing does not apply to Flex Consumption
  // checkov:skip=CKV_AZURE_80:not a site; no .NET Framework (Rust custom handler)
  // checkov:skip=CKV_AZURE_88:not a site; Flex Consumption uses no Azure Files share
  // checkov:skip=CKV_AZURE_222:not a site; public access is decided on the site (functionapp.bicep)
  parent: site
  name: 'appsettings'
  properties: union(settings, extraSettings)
}

output placement string = string(placement)
