//! The infrastructure (`infra/`) and the code agree: Cosmos DB containers and partition keys, the app
//! settings the Bicep writes, the queue and container names, and each region's locations. The Bicep
//! itself is checked offline by `scripts/check-infra` (parse + checkov); this reads it as text.

use std::path::PathBuf;

use clment_common::domain::Region;
use clment_common::placement::locations_of;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `{ name: 'x', paths: ['/a', '/b'], kind: 'Hash' }` lines of the Cosmos module.
fn bicep_containers() -> Vec<(String, Vec<String>, String)> {
    let quoted = |s: &str| -> Vec<String> {
        s.split('\'')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    read("infra/modules/cosmos.bicep")
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("{ name: '") && l.contains("paths:"))
        .map(|l| {
            let name = quoted(l)[0].clone();
            let paths_part = &l[l.find("paths:").unwrap()..l.find("kind:").unwrap()];
            let kind = quoted(&l[l.find("kind:").unwrap()..])[0].clone();
            (name, quoted(paths_part), kind)
        })
        .collect()
}

#[test]
fn cosmos_containers_and_partition_keys_are_the_adapters() {
    use clment_azure::{audit, cosmos, reviews, tenants};
    let mut expected: Vec<(String, Vec<String>)> = vec![
        (cosmos::DEFAULT_CONTAINER, vec![cosmos::PARTITION_KEY_PATH]),
        (
            tenants::ORGS_CONTAINER,
            vec![tenants::ORGS_PARTITION_KEY_PATH],
        ),
        (
            tenants::API_KEYS_CONTAINER,
            vec![tenants::API_KEYS_PARTITION_KEY_PATH],
        ),
        (
            audit::AUDIT_CONTAINER,
            audit::AUDIT_PARTITION_KEY_PATHS.to_vec(),
        ),
        (
            audit::HEADS_CONTAINER,
            vec![audit::HEADS_PARTITION_KEY_PATH],
        ),
        (
            reviews::REVIEWS_CONTAINER,
            vec![reviews::PARTITION_KEY_PATH],
        ),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_owned(), p.into_iter().map(str::to_owned).collect()))
    .collect();
    expected.sort();
    let found = bicep_containers();
    for (name, paths, kind) in &found {
        let want = if paths.len() > 1 { "MultiHash" } else { "Hash" };
        assert_eq!(kind, want, "{name}: partition key kind");
    }
    let mut found: Vec<(String, Vec<String>)> = found.into_iter().map(|(n, p, _)| (n, p)).collect();
    found.sort();
    assert_eq!(
        found, expected,
        "infra/modules/cosmos.bicep vs the adapters"
    );
    let main = read("infra/main.bicep");
    assert!(
        main.contains(&format!("'{}'", cosmos::DEFAULT_DATABASE)),
        "the database the bundle defaults to"
    );
    // Every container but the audit trail is in the daily export (the 90-day backup), and nothing
    // else is; the trail's 90-day copy is the bundle's own archive, in its container.
    let list = &main[main
        .find("var cosmosExportContainers = [")
        .expect("export list")..];
    let list = &list[..list.find(']').unwrap()];
    let mut exported: Vec<String> = list
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    exported.sort();
    let mut names: Vec<String> = expected
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| n != audit::AUDIT_CONTAINER)
        .collect();
    names.sort();
    assert_eq!(exported, names, "cosmosExportContainers vs the containers");
    assert!(main.contains(&format!(
        "var auditArchiveContainer = '{}'",
        clment_azure::audit_archive::ARCHIVE_CONTAINER
    )));
    assert!(main.contains("auditArchiveContainerName: auditArchiveContainer"));
}

/// Settings the Bicep writes: each `CLMENT_*` one is a setting the bundle reads; everything the Azure
/// backend requires is there; the trigger connection is identity-based; no key or secret value.
#[test]
fn app_settings_are_the_bundle_s_and_hold_no_secrets() {
    let bicep = read("infra/modules/appsettings.bicep");
    let known: Vec<&str> = clment_handler::config::SETTINGS
        .iter()
        .map(|(n, ..)| *n)
        .collect();
    let written: Vec<String> = bicep
        .lines()
        .map(str::trim)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, _)| k.trim().to_owned())
        .filter(|k| k.starts_with("CLMENT_"))
        .collect();
    for k in &written {
        assert!(
            known.contains(&k.as_str()),
            "{k} is not a setting the bundle reads"
        );
    }
    for required in [
        "CLMENT_BACKEND",
        "CLMENT_REGION",
        "CLMENT_AZURE_BLOB_URL",
        "CLMENT_AZURE_QUEUE_URL",
        "CLMENT_AZURE_COSMOS_URL",
        "CLMENT_AZURE_SEARCH_URL",
        "CLMENT_AZURE_PLACEMENT",
        "CLMENT_AUTH_ISSUER",
        "CLMENT_AUTH_JWKS_URL",
        "CLMENT_AUDIT_SIGNING_KEY",
        "CLMENT_OPERATOR_AUDIENCE",
    ] {
        assert!(
            written.iter().any(|k| k == required),
            "{required} is not set"
        );
    }
    // Keys are never configured: the app's identity is used everywhere.
    for secret in [
        "CLMENT_FOUNDRY_API_KEY",
        "CLMENT_EMBEDDING_API_KEY",
        "CLMENT_MASTER_KEY",
    ] {
        assert!(
            !written.iter().any(|k| k == secret),
            "{secret} must not be set"
        );
    }
    assert!(
        !bicep.contains("AccountKey="),
        "a storage key in the settings"
    );
    assert!(!bicep.contains("listKeys("), "keys read into the settings");
    assert!(
        bicep.contains("@Microsoft.KeyVault("),
        "the signing key comes from Key Vault"
    );
    // Every trigger connection named in function.json is identity-based.
    for f in std::fs::read_dir(root().join("functions")).unwrap() {
        let path = f.unwrap().path().join("function.json");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for b in json["bindings"].as_array().unwrap() {
            if let Some(conn) = b["connection"].as_str() {
                for suffix in ["__blobServiceUri", "__queueServiceUri", "__credential"] {
                    assert!(
                        bicep.contains(&format!("{conn}{suffix}:")),
                        "{}: {conn}{suffix} is not set",
                        path.display()
                    );
                }
            }
        }
    }
}

/// The queue `run-job` reads and the container the blob trigger watches exist in the infrastructure.
#[test]
fn queues_and_containers_match_the_functions() {
    let main = read("infra/main.bicep");
    let run_job: serde_json::Value =
        serde_json::from_str(&read("functions/run-job/function.json")).unwrap();
    let queue = run_job["bindings"][0]["queueName"].as_str().unwrap();
    assert!(main.contains(&format!("'{queue}'")), "queue {queue}");
    assert_eq!(clment_azure::blob::DEFAULT_CONTAINER, "contracts");
    assert_eq!(queue, clment_azure::queue::DEFAULT_QUEUE);
    assert!(main.contains("'contracts'"));
    let events = read("infra/eventgrid.bicep");
    assert!(events.contains("/blobServices/default/containers/${contractsContainerName}/blobs/"));
    assert!(events.contains("param contractsContainerName string = 'contracts'"));
    assert!(events.contains("Host.Functions.${functionName}"));
    assert!(events.contains("param functionName string = 'index-contract'"));
    assert!(root().join("functions/index-contract").is_dir());
}

/// Each region's parameters pin the documented primary and failover locations, inside its geography.
#[test]
fn each_region_pins_its_locations_inside_its_geography() {
    for (region, primary, failover) in [
        (Region::Us, "eastus2", "westus3"),
        (Region::Eu, "westeurope", "northeurope"),
        (Region::Au, "australiaeast", "australiasoutheast"),
    ] {
        let r = region.as_str();
        let p: serde_json::Value =
            serde_json::from_str(&read(&format!("infra/regions/{r}/main.parameters.json")))
                .unwrap();
        let p = &p["parameters"];
        assert_eq!(p["clmentRegion"]["value"], r);
        assert_eq!(p["location"]["value"], primary, "{r}");
        assert_eq!(p["failoverLocation"]["value"], failover, "{r}");
        for l in [primary, failover] {
            assert!(locations_of(region).contains(&l), "{l} outside {r}");
        }
        let env = read(&format!("infra/regions/{r}/azd.env"));
        assert!(env.contains(&format!("AZURE_LOCATION={primary}")));
        assert!(env.contains(&format!("CLMENT_REGION={r}")));
        assert!(env.contains(&format!("CLMENT_FAILOVER_LOCATION={failover}")));
    }
    // The AI deployment type per region: Data Zone for US and EU, Regional (Standard) for AU.
    let main = read("infra/main.bicep");
    assert!(main.contains("'DataZoneStandard'"));
    assert!(!main.contains("GlobalStandard"), "a Global deployment type");
}

/// azd deploys the packaging command's output as a custom-handler function app.
#[test]
fn azure_yaml_deploys_the_package() {
    let y = read("azure.yaml");
    for needle in [
        "language: custom",
        "host: function",
        "dist: dist/app",
        "scripts/package",
    ] {
        assert!(y.contains(needle), "azure.yaml lacks {needle:?}");
    }
    let package = read("scripts/package");
    assert!(package.contains("dist/app"));
    let function_app = read("infra/modules/functionapp.bicep");
    for needle in [
        "'custom'",
        "FlexConsumption",
        "httpsOnly: true",
        "ftpsState: 'Disabled'",
    ] {
        assert!(
            function_app.contains(needle),
            "functionapp.bicep lacks {needle:?}"
        );
    }
}
