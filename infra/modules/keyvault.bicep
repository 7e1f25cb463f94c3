// Key Vault for the plane's application secrets (today only `audit-signing-key`, the Ed25519 seed
// that signs audit digests). No secret is created here: values never pass through ARM templates or
// deployment history. The azd postprovision hook (infra/hooks/postprovision.sh) creates the secret
// once if it is missing. Access is Azure RBAC only (no access policies).

@description('Key Vault name (3-24 letters, digits, hyphens; globally unique).')
@maxLength(24)
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

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
      ipRules: []
      virtualNetworkRules: []
    }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
