#!/usr/bin/env bash
# azd postprovision hook:
#   1. make sure the plane's Key Vault holds the audit signing key;
#   2. start the daily Cosmos DB export trigger of the plane's Data Factory (ARM deploys triggers
#      Stopped and cannot start them; see infra/modules/cosmos-export.bicep).
#
# The secret (`audit-signing-key`, an Ed25519 seed: 32 random bytes, base64url without padding) is
# created once, here, and never through Bicep, so its value never appears in a template, a parameter
# or deployment history. An existing secret is left alone (rotating it is an operator decision: see
# docs/operations.md). The value is generated into a private temporary file and handed to the CLI by
# file, never on a command line, never printed.
#
# Needs: az CLI signed in as the azd principal, which provisioning granted Key Vault Secrets Officer
# (and, as the deployer, Data Factory Contributor or more on the resource group for step 2).
set -euo pipefail

vault="${AZURE_KEY_VAULT_NAME:?AZURE_KEY_VAULT_NAME is not set (run through azd, after provisioning)}"
secret="${CLMENT_AUDIT_SIGNING_SECRET_NAME:-audit-signing-key}"

umask 077
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

ensure_signing_key() {
  # Secret names only (no values). Role assignments made by this provision can take a few minutes to
  # reach Key Vault, so retry on authorization errors.
  names=""
  for attempt in $(seq 1 24); do
    if names="$(az keyvault secret list --vault-name "$vault" --query "[].name" -o tsv 2>"$work/err")"; then
      break
    fi
    if grep -qiE 'forbidden|not ?authorized|does not have|Caller is not' "$work/err" && [ "$attempt" -lt 24 ]; then
      echo "postprovision: waiting for Key Vault permissions to apply (attempt $attempt)..."
      sleep 15
      continue
    fi
    cat "$work/err" >&2
    exit 1
  done

  if printf '%s\n' "$names" | grep -qx "$secret"; then
    echo "postprovision: $vault/$secret exists; left unchanged."
    return 0
  fi

  # A soft-deleted secret of that name blocks `set`; recovering it keeps already-signed digests
  # verifiable, so ask for a decision instead of silently minting a new key.
  if az keyvault secret list-deleted --vault-name "$vault" --query "[].name" -o tsv 2>/dev/null | grep -qx "$secret"; then
    echo "postprovision: $vault/$secret is soft-deleted. Recover it with" >&2
    echo "  az keyvault secret recover --vault-name $vault --name $secret" >&2
    echo "(purge protection forbids purging it; a new key needs a new secret name and app setting)." >&2
    exit 1
  fi

  # 32 random bytes, base64url, no padding (43 characters).
  if command -v openssl >/dev/null 2>&1; then
    openssl rand 32 | base64 | tr '+/' '-_' | tr -d '=\n' >"$work/seed"
  else
    python3 -c 'import base64, secrets, sys; sys.stdout.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode())' >"$work/seed"
  fi
  if [ "$(wc -c <"$work/seed" | tr -d ' ')" != 43 ]; then
    echo "postprovision: generated key has an unexpected length; nothing stored." >&2
    exit 1
  fi

  az keyvault secret set --vault-name "$vault" --name "$secret" --file "$work/seed" --encoding utf-8 \
    --content-type "application/octet-stream; encoding=base64url; use=ed25519-seed" \
    --tags purpose=audit-digest-signing --output none
  echo "postprovision: created $vault/$secret (value not shown)."
}

# Start the export trigger unless it already runs. Idempotent: a Started trigger is left alone, and
# a start that races with another one is accepted if the trigger ends up Started.
start_export_trigger() {
  local factory="${AZURE_DATA_FACTORY_NAME:-}"
  local trigger="${CLMENT_COSMOS_EXPORT_TRIGGER:-}"
  if [ -z "$factory" ] || [ -z "$trigger" ]; then
    echo "postprovision: Cosmos DB export disabled (enableCosmosExport=false); no trigger to start."
    return 0
  fi
  local rg="${AZURE_RESOURCE_GROUP:?AZURE_RESOURCE_GROUP is not set (run through azd, after provisioning)}"

  if ! az extension show --name datafactory --output none >/dev/null 2>&1; then
    az extension add --name datafactory --only-show-errors --yes --output none
  fi

  local state
  state="$(az datafactory trigger show -g "$rg" --factory-name "$factory" -n "$trigger" \
    --query properties.runtimeState -o tsv)"
  if [ "$state" = "Started" ]; then
    echo "postprovision: $factory/$trigger already started."
    return 0
  fi
  if ! az datafactory trigger start -g "$rg" --factory-name "$factory" -n "$trigger" \
    --only-show-errors --output none 2>"$work/trigger-err"; then
    state="$(az datafactory trigger show -g "$rg" --factory-name "$factory" -n "$trigger" \
      --query properties.runtimeState -o tsv 2>/dev/null || true)"
    if [ "$state" != "Started" ]; then
      cat "$work/trigger-err" >&2
      echo "postprovision: could not start $factory/$trigger: Cosmos DB exports will NOT run." >&2
      exit 1
    fi
  fi
  echo "postprovision: started $factory/$trigger (daily Cosmos DB export)."
}

ensure_signing_key
start_export_trigger
