// Daily logical export of every Cosmos DB container to the DATA storage account with Azure Data
// Factory (no application code). This is the 90-day leg of the Cosmos DB backup story: the account's
// own Continuous30Days PITR covers 30 days; these exports, kept 90 days by a lifecycle rule on the
// `cosmos-backups` container (storage.bicep), cover the rest with a 24 h RPO. See docs/operations.md,
// "Cosmos DB backup", for what this is and is not (a logical, per-container export, not a consistent
// snapshot; the `audit` container may not export at all, see below).
//
// What gets created (all in the plane's primary region):
//   - the factory, with a system-assigned identity: the ONLY credential in play. No keys, no SAS,
//     no connection strings (Cosmos has disableLocalAuth, storage has allowSharedKeyAccess=false);
//   - an Azure integration runtime pinned to the primary region (not AutoResolve), and both linked
//     services connect through it, so the copy compute runs in-region;
//   - linked services: Cosmos DB for NoSQL (accountEndpoint + database, no key = factory managed
//     identity) and Blob Storage (serviceEndpoint, no key = factory managed identity);
//   - datasets, one pipeline (ForEach over the container names, Copy `SELECT * FROM c` to JSON lines
//     at cosmos-backups/<yyyy-MM-dd>/<container>.json), a daily schedule trigger;
//   - roles: Cosmos DB Built-in Data Reader on dbs/<database> and Storage Blob Data Contributor on
//     the `cosmos-backups` container only;
//   - diagnostics to Log Analytics and an alert on failed pipeline runs.
//
// Trigger state: ARM cannot start a trigger (`runtimeState` is read-only), so a new trigger is
// deployed Stopped and infra/hooks/postprovision.sh starts it (`az datafactory trigger start`).
// ADF also refuses to UPDATE a started trigger ("TriggerEnabledCannotUpdate: Cannot update enabled
// Trigger; the trigger needs to be disabled first"). Redeploying an unchanged trigger is accepted
// (the payload below contains no deployment-time values such as utcNow() for that reason), but any
// change to the trigger definition (schedule hour, pipeline parameters) needs
// `az datafactory trigger stop ...` before `azd provision`; the hook restarts it afterwards.
//
// Known limitation (not verifiable offline): Data Factory's Cosmos DB connector has public, open
// reports of failing on containers with hierarchical partition keys ("Error converting value
// \"MultiHash\" to type 'Microsoft.Azure.Documents.PartitionKind'"; Azure/Azure-DataFactory issues
// #594 and #609, 2023-2025). Our `audit` container uses ['/orgId', '/bucket']. It is last in the
// list so the other five containers are exported first; if its copy fails, the run is marked
// Failed and the alert fires. docs/operations.md treats the `audit` export as NOT working until a real run
// proves otherwise.

@description('Data Factory name (globally unique, 3-63 letters, digits, hyphens).')
@minLength(3)
@maxLength(63)
param name string

@description('Primary region of the plane: the factory AND its integration runtime live here.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Enabled (no private networking in this first cut) or Disabled. For a factory that only uses the Azure integration runtime this governs self-hosted IR and Studio access, not the data path.')
@allowed([
  'Enabled'
  'Disabled'
])
param publicNetworkAccess string = 'Enabled'

@description('Cosmos DB account name.')
param cosmosName string

@description('Cosmos DB account endpoint (https://<account>.documents.azure.com).')
param cosmosEndpoint string

@description('Cosmos DB database to export.')
param cosmosDatabaseName string

@description('Containers to export, in order. Keep `audit` (hierarchical partition key) last: see the header.')
param containerNames array

@description('DATA storage account name.')
param dataStorageName string

@description('DATA storage blob endpoint (https://<account>.blob.core.windows.net, no trailing slash).')
param blobEndpoint string

@description('Blob container receiving the exports (created, with its 90-day lifecycle rule, by storage.bicep).')
param backupContainerName string = 'cosmos-backups'

@description('Hour (UTC) of the daily run; main.bicep picks a local night-time hour per plane because a full scan competes with the app for the database RU/s.')
@minValue(0)
@maxValue(23)
param scheduleHourUtc int

@description('Log Analytics workspace for pipeline/activity/trigger run logs.')
param logAnalyticsId string

@description('Action group notified when an export run fails; empty = the alert only shows in Azure Monitor.')
param alertActionGroupId string = ''

// Cosmos DB data-plane role (not Azure RBAC): "Cosmos DB Built-in Data Reader" (read items, run
// queries, read the change feed and metadata; no writes).
var cosmosDataReaderId = '00000000-0000-0000-0000-000000000001'
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor

// ADF object names: no hyphens in linked service and dataset names.
var irName = 'InRegionAzureIR'
var cosmosLinkedServiceName = 'CosmosDb'
var blobLinkedServiceName = 'BackupBlob'
var cosmosDatasetName = 'CosmosContainer'
var jsonDatasetName = 'BackupJsonLines'
var pipelineName = 'ExportCosmosContainers'
var triggerName = 'DailyCosmosExport'

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2025-04-15' existing = {
  name: cosmosName
}

resource backupContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' existing = {
  name: '${dataStorageName}/default/${backupContainerName}'
}

resource factory 'Microsoft.DataFactory/factories@2018-06-01' = {
  // checkov:skip=CKV_AZURE_103:the factory is defined entirely in this Bicep module (this repository is its source control); a linked ADF Git repo would be a second, divergent source of truth
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    publicNetworkAccess: publicNetworkAccess
  }
}

// Azure IR pinned to the plane's primary region. With AutoResolve the service picks the region
// "closest to the sink", which is usually but not provably in-region; pinning makes it explicit.
resource integrationRuntime 'Microsoft.DataFactory/factories/integrationRuntimes@2018-06-01' = {
  parent: factory
  name: irName
  properties: {
    type: 'Managed'
    description: 'Azure IR pinned to ${location}: Cosmos DB reads and blob writes run in the plane region.'
    typeProperties: {
      computeProperties: {
        location: location
      }
    }
  }
}

// System-assigned managed identity authentication: accountEndpoint + database and NO accountKey /
// connectionString / credential (the ADF connector doc's "System-assigned managed identity" shape).
resource cosmosLinkedService 'Microsoft.DataFactory/factories/linkedservices@2018-06-01' = {
  parent: factory
  name: cosmosLinkedServiceName
  properties: {
    type: 'CosmosDb'
    description: 'Cosmos DB for NoSQL, factory managed identity (Built-in Data Reader on dbs/${cosmosDatabaseName}).'
    connectVia: {
      referenceName: integrationRuntime.name
      type: 'IntegrationRuntimeReference'
    }
    typeProperties: {
      accountEndpoint: '${cosmosEndpoint}/'
      database: cosmosDatabaseName
    }
  }
}

// Managed identity authentication: serviceEndpoint (+ accountKind) and no key/SAS.
resource blobLinkedService 'Microsoft.DataFactory/factories/linkedservices@2018-06-01' = {
  parent: factory
  name: blobLinkedServiceName
  properties: {
    type: 'AzureBlobStorage'
    description: 'DATA storage account, factory managed identity (Blob Data Contributor on ${backupContainerName} only; "Test connection" at account level therefore fails by design).'
    connectVia: {
      referenceName: integrationRuntime.name
      type: 'IntegrationRuntimeReference'
    }
    typeProperties: {
      serviceEndpoint: '${blobEndpoint}/'
      accountKind: 'StorageV2'
    }
  }
}

resource cosmosDataset 'Microsoft.DataFactory/factories/datasets@2018-06-01' = {
  parent: factory
  name: cosmosDatasetName
  properties: {
    type: 'CosmosDbSqlApiCollection'
    linkedServiceName: {
      referenceName: cosmosLinkedService.name
      type: 'LinkedServiceReference'
    }
    parameters: {
      containerName: {
        type: 'String'
      }
    }
    // No schema/structure: documents are copied as-is (schema-agnostic JSON export).
    typeProperties: {
      collectionName: {
        value: '@dataset().containerName'
        type: 'Expression'
      }
    }
  }
}

resource jsonDataset 'Microsoft.DataFactory/factories/datasets@2018-06-01' = {
  parent: factory
  name: jsonDatasetName
  properties: {
    type: 'Json'
    linkedServiceName: {
      referenceName: blobLinkedService.name
      type: 'LinkedServiceReference'
    }
    parameters: {
      folderPath: {
        type: 'String'
      }
      fileName: {
        type: 'String'
      }
    }
    typeProperties: {
      location: {
        type: 'AzureBlobStorageLocation'
        container: backupContainerName
        folderPath: {
          value: '@dataset().folderPath'
          type: 'Expression'
        }
        fileName: {
          value: '@dataset().fileName'
          type: 'Expression'
        }
      }
      // No byte-order mark, so every line of the JSON-lines file is a plain JSON document.
      encodingName: 'UTF-8 without BOM'
    }
  }
}

resource pipeline 'Microsoft.DataFactory/factories/pipelines@2018-06-01' = {
  parent: factory
  name: pipelineName
  properties: {
    description: 'Logical export of each Cosmos DB container of ${cosmosDatabaseName} to ${backupContainerName}/<yyyy-MM-dd>/<container>.json (JSON lines). Not a consistent snapshot across containers.'
    // Never two exports at once (a manual run during the scheduled one queues).
    concurrency: 1
    parameters: {
      containers: {
        type: 'Array'
        defaultValue: containerNames
      }
      // yyyy-MM-dd folder; the trigger passes its scheduled date, a manual run may set it (empty =
      // the run's trigger time).
      exportDate: {
        type: 'String'
        defaultValue: ''
      }
    }
    activities: [
      {
        name: 'ForEachContainer'
        type: 'ForEach'
        typeProperties: {
          items: {
            value: '@pipeline().parameters.containers'
            type: 'Expression'
          }
          // Sequential: one full scan at a time, so the export takes a bounded share of the shared
          // database throughput. A failed container does not stop the following ones.
          isSequential: true
          activities: [
            {
              name: 'CopyContainerToJsonLines'
              type: 'Copy'
              policy: {
                timeout: '0.06:00:00'
                retry: 2
                retryIntervalInSeconds: 300
                secureInput: false
                secureOutput: false
              }
              inputs: [
                {
                  referenceName: cosmosDataset.name
                  type: 'DatasetReference'
                  parameters: {
                    containerName: {
                      value: '@item()'
                      type: 'Expression'
                    }
                  }
                }
              ]
              outputs: [
                {
                  referenceName: jsonDataset.name
                  type: 'DatasetReference'
                  parameters: {
                    folderPath: {
                      value: '@if(empty(pipeline().parameters.exportDate), formatDateTime(pipeline().TriggerTime, \'yyyy-MM-dd\'), pipeline().parameters.exportDate)'
                      type: 'Expression'
                    }
                    fileName: {
                      value: '@concat(item(), \'.json\')'
                      type: 'Expression'
                    }
                  }
                }
              ]
              typeProperties: {
                source: {
                  type: 'CosmosDbSqlApiSource'
                  query: 'SELECT * FROM c'
                  // Keep date-like strings byte-for-byte (audit digests and signatures cover them).
                  detectDatetime: false
                }
                sink: {
                  type: 'JsonSink'
                  storeSettings: {
                    type: 'AzureBlobStorageWriteSettings'
                  }
                  formatSettings: {
                    type: 'JsonWriteSettings'
                    // setOfObjects = one JSON document per line (JSON lines).
                    filePattern: 'setOfObjects'
                  }
                }
                enableStaging: false
              }
            }
          ]
        }
      }
    ]
  }
}

// Daily at scheduleHourUtc:15 UTC. Fixed startTime (no utcNow()): an unchanged trigger must stay
// byte-identical between deployments, because ADF rejects updates to a started trigger.
resource trigger 'Microsoft.DataFactory/factories/triggers@2018-06-01' = {
  parent: factory
  name: triggerName
  properties: {
    type: 'ScheduleTrigger'
    description: 'Daily Cosmos DB export (started by infra/hooks/postprovision.sh; ARM deploys it Stopped).'
    pipelines: [
      {
        pipelineReference: {
          referenceName: pipeline.name
          type: 'PipelineReference'
        }
        parameters: {
          exportDate: '@formatDateTime(trigger().scheduledTime, \'yyyy-MM-dd\')'
        }
      }
    ]
    typeProperties: {
      recurrence: {
        frequency: 'Day'
        interval: 1
        startTime: '2026-01-01T00:00:00Z'
        timeZone: 'UTC'
        schedule: {
          hours: [
            scheduleHourUtc
          ]
          minutes: [
            15
          ]
        }
      }
    }
  }
}

// Read-only data-plane access to the one database (no account keys exist).
resource cosmosDataReader 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2025-04-15' = {
  parent: cosmos
  name: guid(cosmos.id, factory.id, cosmosDataReaderId)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataReaderId}'
    principalId: factory.identity.principalId
    scope: '${cosmos.id}/dbs/${cosmosDatabaseName}'
  }
}

// Write access to the export container only (not the account): the factory cannot read contracts.
resource exportWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: backupContainer
  name: guid(backupContainer.id, factory.id, storageBlobDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: factory.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Run history (ADFPipelineRun / ADFActivityRun / ADFTriggerRun tables): ADF itself keeps it 45 days.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: factory
  name: 'to-log-analytics'
  properties: {
    workspaceId: logAnalyticsId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'PipelineRuns'
        enabled: true
      }
      {
        category: 'ActivityRuns'
        enabled: true
      }
      {
        category: 'TriggerRuns'
        enabled: true
      }
    ]
  }
}

// Fires when any pipeline run fails. Does NOT detect a run that never happened (trigger stopped):
// docs/operations.md gives the Log Analytics query for "no successful export in the last 26 h".
resource failedRunAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${name}-export-failed'
  location: 'global'
  tags: tags
  properties: {
    description: 'A Cosmos DB export pipeline run failed in ${name}: check ADF Monitor (the day has no complete export).'
    severity: 1
    enabled: true
    scopes: [
      factory.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT6H'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'PipelineFailedRuns'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.DataFactory/factories'
          metricName: 'PipelineFailedRuns'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: empty(alertActionGroupId) ? [] : [
      {
        actionGroupId: alertActionGroupId
      }
    ]
  }
}

output factoryName string = factory.name
output factoryPrincipalId string = factory.identity.principalId
output pipelineName string = pipeline.name
output triggerName string = trigger.name
