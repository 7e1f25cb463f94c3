// Log Analytics workspace + workspace-based Application Insights for one regional plane.
// Local (instrumentation-key) auth is disabled on both: the Functions host sends telemetry with
// its managed identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD), which needs
// "Monitoring Metrics Publisher" on the component (granted in roles.bicep).

@description('Region of the plane (the resource group location).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Log Analytics workspace name.')
param logAnalyticsName string

@description('Application Insights component name.')
param appInsightsName string

@description('Days to keep logs. The handler never logs contract contents; 30 days is the free tier.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
      enableLogAccessUsingOnlyResourcePermissions: true
    }
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

output appInsightsName string = appInsights.name
output appInsightsId string = appInsights.id
// The connection string carries only the instrumentation key and ingestion endpoint, which are
// identifiers, not credentials, because local auth is disabled (ingestion requires an Entra token).
output appInsightsConnectionString string = appInsights.properties.ConnectionString
output logAnalyticsId string = workspace.id
