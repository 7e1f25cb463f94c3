//! The Azure SDK's in-memory Cosmos DB emulator, for the Cosmos adapter tests. Every use of it is in
//! this file.
//!
//! The emulator is the SDK's own internal test double (`azure_data_cosmos_driver::in_memory_emulator`,
//! behind the `__internal_in_memory_emulator` feature, pinned to `=1.0.0` in the dev-dependencies): not
//! the real service and not a published API, so it may change with any SDK release. It replaces only
//! the HTTP transport, so the client handed to the adapter is the real `CosmosClient` and the adapter
//! under test is the production code. Each call to [`contracts`] or [`tenants`] starts a fresh, empty
//! account (in-process, tens of milliseconds).

// Included by several test binaries, each of which uses only part of it.
#![allow(dead_code)]

use std::sync::Arc;

use azure_core::credentials::Secret;
use azure_core::http::Url;
use azure_data_cosmos::options::Region;
use azure_data_cosmos::{
    AccountEndpoint, AccountReference, CosmosClient, CosmosRuntimeBuilder, RoutingStrategy,
};
use azure_data_cosmos_driver::in_memory_emulator::{
    ConsistencyLevel, InMemoryEmulatorHttpClient, VirtualAccountConfig, VirtualRegion,
};
use clment_azure::cosmos::{
    CosmosContracts, DEFAULT_CONTAINER, DEFAULT_DATABASE, container_properties,
};
use clment_azure::tenants::{
    API_KEYS_CONTAINER, CosmosApiKeys, CosmosOrgs, ORGS_CONTAINER, api_keys_container_properties,
    orgs_container_properties,
};

/// The virtual account's gateway (never resolved: the emulator answers in-process).
const GATEWAY: &str = "https://eastus.emulator.local";
/// Any base64 key: the emulator does not check signatures.
const KEY: &str = "dGVzdGtleQ==";

/// A client over a fresh emulated account with one region.
///
/// # Panics
/// When the emulator cannot be built.
pub async fn client() -> CosmosClient {
    let config = VirtualAccountConfig::new(vec![VirtualRegion::new(
        "East US",
        Url::parse(GATEWAY).expect("gateway url"),
    )])
    .expect("emulator config")
    .with_consistency(ConsistencyLevel::Session);
    let emulator = Arc::new(InMemoryEmulatorHttpClient::new(config));
    let runtime = CosmosRuntimeBuilder::from(emulator.runtime_builder())
        .build()
        .await
        .expect("emulator runtime");
    CosmosClient::builder()
        .with_runtime(runtime)
        .build(
            AccountReference::with_authentication_key(
                GATEWAY.parse::<AccountEndpoint>().expect("endpoint"),
                Secret::new(KEY),
            ),
            RoutingStrategy::ProximityTo(Region::EAST_US),
        )
        .await
        .expect("emulator client")
}

/// Creates the database and the contracts container (partition key `/orgId`) the way infrastructure
/// provisions them. Needs key auth and the SDK's control-plane feature, which only tests enable.
///
/// # Panics
/// When the emulator refuses.
pub async fn provision(client: &CosmosClient, database: &str, container: &str) {
    client
        .create_database(database, None)
        .await
        .expect("create database");
    client
        .database_client(database)
        .create_container(container_properties(container), None)
        .await
        .expect("create container");
}

/// The adapter over a fresh emulated account with `clment` / `contracts` provisioned.
pub async fn contracts() -> CosmosContracts {
    let client = client().await;
    provision(&client, DEFAULT_DATABASE, DEFAULT_CONTAINER).await;
    let store = CosmosContracts::new(client);
    store.connect().await.expect("container resolves");
    store
}

/// Creates the database (unless it exists) with the orgs (`/orgId`) and API keys (`/id`) containers,
/// the way infrastructure provisions them.
///
/// # Panics
/// When the emulator refuses.
pub async fn provision_tenants(client: &CosmosClient) {
    match client.create_database(DEFAULT_DATABASE, None).await {
        Ok(_) => {}
        Err(e) if e.status().is_conflict() => {}
        Err(e) => panic!("create database: {e}"),
    }
    let db = client.database_client(DEFAULT_DATABASE);
    db.create_container(orgs_container_properties(ORGS_CONTAINER), None)
        .await
        .expect("create orgs container");
    db.create_container(api_keys_container_properties(API_KEYS_CONTAINER), None)
        .await
        .expect("create api keys container");
}

/// The org and API key adapters over a fresh emulated account with `clment` / `orgs` and
/// `clment` / `apiKeys` provisioned, plus the client (for raw reads of the stored documents).
pub async fn tenants() -> (CosmosOrgs, CosmosApiKeys, CosmosClient) {
    let client = client().await;
    provision_tenants(&client).await;
    let orgs = CosmosOrgs::new(client.clone());
    orgs.connect().await.expect("orgs container resolves");
    let keys = CosmosApiKeys::new(client.clone());
    keys.connect().await.expect("api keys container resolves");
    (orgs, keys, client)
}
