// Azure Backup vaulted backup for Azure Cosmos DB for NoSQL (OFF by default; see main.bicep
// `enableCosmosVaultedBackup` and docs/operations.md).
//
// Why: Cosmos DB's own backups stop at 30 days (Continuous30Days; periodic mode at 720 h). A Backup
// vault can keep weekly full copies of the whole account for 13+ weeks, outside the account.
//
// Why it is off (checked against the Azure Backup support matrix and the Cosmos DB "Azure Backup for
// Cosmos DB" page, 2026-05/08):
//   - the feature is in PREVIEW (no SLA);
//   - "Cosmos DB account with hierarchical partition keys isn't supported": our `audit` container
//     uses the hierarchical key ['/orgId', '/bucket'], which the app needs and cannot be changed on an
//     existing container, so protecting this account fails validation;
//   - long-term protection must first be enabled on the account by Azure Support
//     (LongTermProtectionNotEnabledUserError);
//   - restore is only to a NEW, empty, single-region, non-serverless account in the vault's region
//     (no item- or container-level restore, no in-place restore);
//   - RPO is a week for full backups (daily incrementals where offered), on top of the 30-day PITR.
// Turn it on only once the hierarchical-key limitation is lifted and support has enabled long-term
// protection; until then days 31-90 rely on the daily Data Factory export (cosmos-export.bicep),
// whose limits (no consistent snapshot, `audit` likely not exportable) are in docs/operations.md.
//
// Residency: the vault lives in the plane's primary region (it must equal the Cosmos write region)
// and Cosmos vaulted backup requires GeoRedundant vault storage, whose secondary is the Azure paired
// region - inside the same geography for eastus2 (centralus), westeurope (northeurope) and
// australiaeast (australiasoutheast). Cross-region restore stays disabled.

@description('Backup vault name.')
param name string

@description('Region of the plane; must be the Cosmos DB write region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Cosmos DB account to protect.')
param cosmosName string

@description('Weeks each weekly full backup is kept (13 weeks = 91 days).')
@minValue(13)
param retentionWeeks int = 13

@description('First weekly backup time (ISO 8601, UTC); repeats every week from here.')
param scheduleStart string = '2026-01-04T02:00:00+00:00'

var cosmosDbOperator = '230815da-be43-4aae-9cb4-875f7bd000aa' // Cosmos DB Operator
var reader = 'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2025-04-15' existing = {
  name: cosmosName
}

resource vault 'Microsoft.DataProtection/backupVaults@2025-09-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    storageSettings: [
      {
        datastoreType: 'VaultStore'
        type: 'GeoRedundant'
      }
    ]
    securitySettings: {
      softDeleteSettings: {
        state: 'On'
        retentionDurationInDays: 14
      }
      // Unlocked immutability blocks deleting recovery points before they expire but can still be
      // switched off; lock it (irreversible) once the retention period is final.
      immutabilitySettings: {
        state: 'Unlocked'
      }
    }
    featureSettings: {
      crossRegionRestoreSettings: {
        state: 'Disabled'
      }
    }
    monitoringSettings: {
      azureMonitorAlertSettings: {
        alertsForAllJobFailures: 'Enabled'
      }
    }
  }
}

resource policy 'Microsoft.DataProtection/backupVaults/backupPolicies@2025-09-01' = {
  parent: vault
  name: 'cosmos-weekly-${retentionWeeks}w'
  properties: {
    objectType: 'BackupPolicy'
    datasourceTypes: [
      'Microsoft.DocumentDB/databaseAccounts'
    ]
    policyRules: [
      {
        name: 'BackupWeekly'
        objectType: 'AzureBackupRule'
        backupParameters: {
          objectType: 'AzureBackupParams'
          backupType: 'Full'
        }
        dataStore: {
          objectType: 'DataStoreInfoBase'
          dataStoreType: 'VaultStore'
        }
        trigger: {
          objectType: 'ScheduleBasedTriggerContext'
          schedule: {
            timeZone: 'UTC'
            repeatingTimeIntervals: [
              'R/${scheduleStart}/P1W'
            ]
          }
          taggingCriteria: [
            {
              isDefault: true
              taggingPriority: 99
              tagInfo: {
                id: 'Default_'
                tagName: 'Default'
              }
            }
          ]
        }
      }
      {
        name: 'Default'
        objectType: 'AzureRetentionRule'
        isDefault: true
        lifecycles: [
          {
            deleteAfter: {
              objectType: 'AbsoluteDeleteOption'
              duration: 'P${retentionWeeks}W'
            }
            sourceDataStore: {
              objectType: 'DataStoreInfoBase'
              dataStoreType: 'VaultStore'
            }
            targetDataStoreCopySettings: []
          }
        ]
      }
    ]
  }
}

// The vault's identity reads the account and streams its backups (the permissions Azure Backup asks
// for: Cosmos DB Operator on the account, Reader on its resource group).
resource vaultCosmosOperator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: cosmos
  name: guid(cosmos.id, name, cosmosDbOperator)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cosmosDbOperator)
    principalId: vault.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource vaultReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, name, reader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', reader)
    principalId: vault.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource protection 'Microsoft.DataProtection/backupVaults/backupInstances@2025-09-01' = {
  parent: vault
  name: '${cosmosName}-${uniqueString(cosmos.id)}'
  properties: {
    objectType: 'BackupInstance'
    friendlyName: cosmosName
    dataSourceInfo: {
      objectType: 'Datasource'
      datasourceType: 'Microsoft.DocumentDB/databaseAccounts'
      resourceType: 'Microsoft.DocumentDB/databaseAccounts'
      resourceID: cosmos.id
      resourceUri: cosmos.id
      resourceName: cosmosName
      resourceLocation: location
    }
    policyInfo: {
      policyId: policy.id
    }
  }
  dependsOn: [
    vaultCosmosOperator
    vaultReader
  ]
}

output vaultName string = vault.name
output policyId string = policy.id
