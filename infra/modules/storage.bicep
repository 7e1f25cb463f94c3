// One hardened StorageV2 account. Used twice per plane:
//   DATA account: contract originals (`contracts`), the review job queue (`clment-jobs`), the
//                 Event Grid dead-letter container and the daily Cosmos DB exports
//                 (`cosmos-backups`); full in-account data protection (versioning, 90-day soft
//                 delete, change feed, point-in-time restore, lifecycle clean-up).
//   HOST account: AzureWebJobsStorage (host state, timers, blob receipts) and the Flex
//                 Consumption deployment package container; short soft delete only.
//
// Hardening common to both: TLS 1.2+, HTTPS only, no anonymous blob access, no shared-key (account
// key / service SAS) access, Entra ID is the default auth in the portal, infrastructure
// (double) encryption with platform-managed keys on all four services (requireInfrastructureEncryption
// can only be set when the account is created).
//
// Network: publicNetworkAccess defaults to Enabled with defaultAction Allow because Flex Consumption
// without VNet integration has no fixed outbound addresses; access is gated by Entra ID + RBAC only.
// Private endpoints + VNet integration are the follow-up (then set publicNetworkAccess to Disabled).

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

@description('Region of the plane.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Redundancy. Standard_GZRS: three zones in the primary region + an asynchronous copy in the Azure paired region, which is in the same geography for eastus2 (centralus), westeurope (northeurope) and australiaeast (australiasoutheast).')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_GZRS'

@description('Enabled (no VNet in this first cut) or Disabled (private endpoints only).')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('Blob containers to create (private).')
param containers array = []

@description('Queues to create.')
param queues array = []

@description('True for the DATA account: versioning, change feed, point-in-time restore, version lifecycle.')
param dataProtection bool = false

@description('Blob and container soft-delete retention in days (DATA: 90, the backup window).')
@minValue(1)
@maxValue(365)
param softDeleteDays int = 7

@description('Lifecycle rule: previous blob versions are deleted this many days after the version was created (they then sit in soft delete for softDeleteDays before they are gone).')
@minValue(0)
param previousVersionDeleteDays int = 90

@description('Container whose blobs are deleted by lifecycle after softDeleteDays (Event Grid dead letters); empty for none.')
param expiringContainerName string = ''

@description('Container holding the daily Cosmos DB exports (cosmos-export.bicep); its blobs are deleted by lifecycle backupRetentionDays after creation. Empty for none.')
param backupContainerName string = ''

@description('Days a Cosmos DB export is kept (as a current blob) before lifecycle deletes it.')
@minValue(1)
param backupRetentionDays int = 90

// Point-in-time restore must be shorter than soft delete (and needs versioning + change feed).
var restoreDays = softDeleteDays - 1

var versionRule = {
  name: 'delete-previous-versions'
  enabled: true
  type: 'Lifecycle'
  definition: {
    filters: {
      blobTypes: [
        'blockBlob'
      ]
    }
    actions: {
      version: {
        delete: {
          daysAfterCreationGreaterThan: previousVersionDeleteDays
        }
      }
    }
  }
}

var expiringRule = {
  name: 'expire-dead-letters'
  enabled: true
  type: 'Lifecycle'
  definition: {
    filters: {
      blobTypes: [
        'blockBlob'
      ]
      prefixMatch: [
        '${expiringContainerName}/'
      ]
    }
    actions: {
      baseBlob: {
        delete: {
          daysAfterModificationGreaterThan: softDeleteDays
        }
      }
    }
  }
}

// Cosmos DB exports: written once a day by Data Factory, moved to Cool the day after (read only for
// a restore; Cool's 30-day minimum is far below the retention) and deleted `backupRetentionDays`
// after creation. On this versioned, soft-delete account the delete turns the blob into a previous
// version, which `delete-previous-versions` removes at its next run (its creation time is the
// upload, already > 90 days old); that version then sits `softDeleteDays` in soft delete. So an
// export is restorable as a normal blob for 90 days and its bytes are gone for good after
// ~90 + softDeleteDays days (~180 days on the DATA account), plus lifecycle lag (about a day).
//
// Decision: NO container-level time-based immutability (WORM) policy on the export container.
//   - What it would add is small. A data-plane principal (even the function's account-wide Blob
//     Data Owner) cannot erase an export early today: a delete or overwrite leaves a previous
//     version, deleting versions soft-deletes them for softDeleteDays (90), and permanent delete
//     stays off (allowPermanentDelete: false below). Recovery needs an undelete/copy, but the
//     bytes survive. An UNLOCKED policy does not stop a management-plane attacker either (they
//     can delete the policy, or shorten soft delete); only a LOCKED policy would, and that is
//     irreversible, blocks early erasure for privacy requests and blocks deleting the account.
//   - It would not conflict with this lifecycle rule (the delete comes after the 90-day retention,
//     counted from creation) nor with soft delete (soft delete applies after the delete). But:
//   - Azure's immutable-storage overview lists immutability as incompatible with point-in-time
//     restore, which this account relies on for contracts (the PITR page itself only excludes
//     version-level immutability); we cannot verify offline which statement holds, and a failure
//     would break the whole DATA account deployment;
//   - WORM forbids overwrites, so re-running an export for a day that already has files, or a copy
//     retry after a partial commit, would fail.
// Revisit (container-level policy, Unlocked, 90 days, on `backupContainerName`) if the
// PITR interaction is confirmed harmless and an auditor asks for WORM specifically.
var backupRule = {
  name: 'expire-cosmos-exports'
  enabled: true
  type: 'Lifecycle'
  definition: {
    filters: {
      blobTypes: [
        'blockBlob'
      ]
      prefixMatch: [
        '${backupContainerName}/'
      ]
    }
    actions: {
      baseBlob: {
        tierToCool: {
          daysAfterCreationGreaterThan: 1
        }
        delete: {
          daysAfterCreationGreaterThan: backupRetentionDays
        }
      }
    }
  }
}

@description('Container holding the audit archive (written hourly by the bundle\'s audit-digest timer: the 90-day copy of the audit trail); its blobs are deleted by lifecycle backupRetentionDays after creation. Empty for none.')
param auditArchiveContainerName string = ''

// The audit archive: NDJSON ranges of each org's trail, written once (If-None-Match) by the bundle.
// Kept as long as the Cosmos exports; a longer evidence retention is a change of this one number.
var auditArchiveRule = {
  name: 'expire-audit-archive'
  enabled: true
  type: 'Lifecycle'
  definition: {
    filters: {
      blobTypes: [
        'blockBlob'
      ]
      prefixMatch: [
        '${auditArchiveContainerName}/'
      ]
    }
    actions: {
      baseBlob: {
        delete: {
          daysAfterCreationGreaterThan: backupRetentionDays
        }
      }
    }
  }
}

var lifecycleRules = concat([versionRule], empty(expiringContainerName) ? [] : [expiringRule], empty(backupContainerName) ? [] : [backupRule], empty(auditArchiveContainerName) ? [] : [auditArchiveRule])

resource account 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    allowedCopyScope: 'AAD'
    isHnsEnabled: false
    isSftpEnabled: false
    isLocalUserEnabled: false
    dnsEndpointType: 'Standard'
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
      ipRules: []
      virtualNetworkRules: []
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: account
  name: 'default'
  properties: {
    isVersioningEnabled: dataProtection
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
      // Soft-deleted blobs and versions cannot be purged early through the data plane (this is
      // what protects backups and contract versions from a compromised data-plane principal).
      allowPermanentDelete: false
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    changeFeed: dataProtection ? { enabled: true, retentionInDays: softDeleteDays } : { enabled: false }
    restorePolicy: dataProtection ? { enabled: true, days: restoreDays } : { enabled: false }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = [for c in containers: {
  parent: blobService
  name: c
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2025-01-01' = {
  parent: account
  name: 'default'
}

resource storageQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = [for q in queues: {
  parent: queueService
  name: q
}]

// Without this rule previous versions are kept forever, so a deleted contract would never be gone.
// Lifecycle deletes in a soft-delete account soft-delete the version; it is purged softDeleteDays later.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2025-01-01' = if (dataProtection) {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: lifecycleRules
    }
  }
  dependsOn: [
    blobService
  ]
}

output id string = account.id
output name string = account.name
// Endpoints without a trailing slash (the handler joins paths onto them).
output blobEndpoint string = 'https://${account.name}.blob.${environment().suffixes.storage}'
output queueEndpoint string = 'https://${account.name}.queue.${environment().suffixes.storage}'
output tableEndpoint string = 'https://${account.name}.table.${environment().suffixes.storage}'
