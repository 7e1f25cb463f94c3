#!/usr/bin/env bash
# azd postdeploy hook: create or refresh the Event Grid subscription that feeds the Event Grid-based
# blob trigger (infra/eventgrid.bicep). It runs after the code is deployed because the webhook needs
# the host's `blobs_extension` system key, which the host creates when it starts with the blob
# extension, and because Event Grid validates the webhook against the running host.
set -euo pipefail
cd "$(dirname "$0")/../.."

rg="${AZURE_RESOURCE_GROUP:?AZURE_RESOURCE_GROUP is not set (run through azd)}"
app="${AZURE_FUNCTION_APP_NAME:?AZURE_FUNCTION_APP_NAME is not set}"
topic="${AZURE_EVENTGRID_SYSTEM_TOPIC_NAME:?AZURE_EVENTGRID_SYSTEM_TOPIC_NAME is not set}"
storage="${AZURE_DATA_STORAGE_ACCOUNT_NAME:?AZURE_DATA_STORAGE_ACCOUNT_NAME is not set}"
contracts="${CLMENT_CONTRACTS_CONTAINER:-contracts}"
deadletter="${CLMENT_DEAD_LETTER_CONTAINER:-eventgrid-deadletter}"
uri="${SERVICE_API_URI:-https://$(az functionapp show -g "$rg" -n "$app" --query defaultHostName -o tsv)}"

# Wake the host and wait for the system key. Only a true/false leaves the CLI, never a key.
ready=false
for attempt in $(seq 1 30); do
  curl -fsS -o /dev/null --max-time 30 "$uri/api/health" || true
  ready="$(az functionapp keys list -g "$rg" -n "$app" --query "systemKeys.blobs_extension != null" -o tsv 2>/dev/null || echo false)"
  if [ "$ready" = "true" ]; then
    break
  fi
  echo "postdeploy: waiting for the blobs_extension system key (attempt $attempt)..."
  sleep 10
done
if [ "$ready" != "true" ]; then
  echo "postdeploy: the host never published the blobs_extension key; check that index-contract loaded (Application Insights traces)." >&2
  exit 1
fi

az deployment group create -g "$rg" -n clment-eventgrid -f infra/eventgrid.bicep \
  -p functionAppName="$app" systemTopicName="$topic" dataStorageName="$storage" \
     contractsContainerName="$contracts" deadLetterContainerName="$deadletter" \
  --output none
echo "postdeploy: Event Grid subscription index-contract-blob-created is in place on $topic."
