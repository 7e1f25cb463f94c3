// Flex Consumption plan + Linux function app running the Rust custom handler
// (functionAppConfig.runtime = custom 1.0; host.json points at the `handler` executable).
// Identity: system-assigned; it reads the deployment package, AzureWebJobsStorage, the data plane
// and Key Vault with RBAC only. App settings are written by appsettings.bicep once the role
// assignments exist (a Key Vault reference resolved before its role assignment would fail).
//
// No VNet integration in this first cut (so the data services keep public endpoints, gated by
// Entra ID). Flex Consumption has no deployment slots; deployment is a zip pushed by azd (OneDeploy)
// into the blob container below, which the platform reads with the app's identity.

@description('Function app name (globally unique host name).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Region of the plane.')
param location string

@description('Tags applied to the plan; the site also gets azd-service-name.')
param tags object

@description('Blob endpoint of the HOST storage account, without trailing slash.')
param hostBlobEndpoint string

@description('Container in the HOST account that holds the deployment package.')
param deploymentContainerName string

@description('Most instances the app may scale out to (Flex allows 40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory per instance in MB (512, 2048 or 4096); text extraction workers need room.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 4096

@description('Spread instances over availability zones. The platform then keeps at least two always-ready instances per function group (billed continuously), so it is a cost decision per plane.')
param zoneRedundant bool = false

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  // checkov:skip=CKV_AZURE_225:zone redundancy is the zoneRedundant parameter, off by default because a zone-redundant Flex plan bills at least two always-ready instances per function group
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  // checkov:skip=CKV_AZURE_222:this app IS the public API (bearer tokens from the identity server); a WAF/Front Door in front is a follow-up
  // checkov:skip=CKV_AZURE_17:clients authenticate with OAuth bearer tokens or API keys, not mutual TLS
  // checkov:skip=CKV_AZURE_212:App Service minimum-instance setting; Flex Consumption scales per function group on demand
  // checkov:skip=CKV_AZURE_213:App Service health check is not available on Flex Consumption (the app serves /api/health for external probes)
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: 'SystemAssigned'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostBlobEndpoint}/${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

// No FTP and no basic-auth (user/password) publishing on SCM: deployments use Entra ID tokens.
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = site.id
output name string = site.name
output principalId string = site.identity.principalId
output defaultHostName string = site.properties.defaultHostName
output uri string = 'https://${site.properties.defaultHostName}'
