//! Building the application from settings, and running it until a shutdown signal.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clment_azure::connect::{AzureBackend, AzureEndpoints};
use clment_common::audit::{DigestSigner, DigestVerifier};
use clment_common::auth::jwks::{
    CachePolicy, HttpKeySource, JwksCache, KeySource, StaticKeySource,
};
use clment_common::auth::jwt::{TokenPolicy, TokenValidator};
use clment_common::ports::{
    ApiKeyStore, AuditLog, ContractStore, DocumentStore, Embedder, Extractor, HealthCheck,
    JobQueue, JobSink, OrgStore, ReviewStore, SearchIndex, TextStore,
};
use clment_common::review::ReviewProvider;
use clment_common::review::offline::OfflineProvider;
use clment_local::{
    DEV_ISSUER, DataDir, DevIssuer, LocalDocuments, LocalStore, MasterKey, audit_signing_seed,
};
use tokio::net::TcpListener;

use crate::config::{Backend, Identity, ReviewSettings, Settings};
use crate::http;
use crate::routes::openapi;
use crate::state::{AppState, Inner};

/// How long one JWKS fetch may take.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The audit digest signer (from `CLMENT_AUDIT_SIGNING_KEY`, else the data dir's key file) and the
/// verifier that also knows the retired keys.
///
/// # Errors
/// When a key is malformed or the key file cannot be read or created.
pub fn digest_keys(
    settings: &Settings,
    dir: Option<&DataDir>,
) -> anyhow::Result<(Arc<DigestSigner>, DigestVerifier)> {
    let signer = match &settings.audit_signing_key {
        Some(seed) => {
            use secrecy::ExposeSecret as _;
            DigestSigner::from_base64(seed.expose_secret())
                .map_err(|_| anyhow::anyhow!("setting CLMENT_AUDIT_SIGNING_KEY: malformed"))?
        }
        None => {
            let dir = dir.context(
                "setting CLMENT_AUDIT_SIGNING_KEY: is required without a data directory",
            )?;
            DigestSigner::from_seed(&*audit_signing_seed(dir).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
    };
    let retired =
        DigestVerifier::from_public_keys(settings.audit_retired_keys.iter().map(String::as_str))
            .map_err(|_| anyhow::anyhow!("setting CLMENT_AUDIT_RETIRED_PUBLIC_KEYS: malformed"))?;
    let verifier = signer.verifier().with(&retired);
    Ok((Arc::new(signer), verifier))
}

/// The backend's adapters, before the state is assembled.
struct Ports {
    jobs: Arc<dyn JobSink>,
    orgs: Arc<dyn OrgStore>,
    keys: Arc<dyn ApiKeyStore>,
    audit: Arc<dyn AuditLog>,
    contracts: Arc<dyn ContractStore>,
    documents: Arc<dyn DocumentStore>,
    health: Vec<Arc<dyn HealthCheck>>,
    index: Arc<dyn SearchIndex>,
    texts: Arc<dyn TextStore>,
    reviews: Arc<dyn ReviewStore>,
    /// The audit trail's second copy (Azure only: locally the data directory is the one copy).
    audit_archive: Option<Arc<dyn clment_common::ports::AuditArchive>>,
    /// The local job queue its workers consume (Azure: the blob trigger indexes instead).
    queue: Option<Arc<dyn JobQueue>>,
    /// An extractor to use instead of worker processes of this executable (tests in other crates).
    extractor: Option<Arc<dyn Extractor>>,
    /// The managed identity (Azure), for the embedding deployment.
    credential: Option<Arc<dyn clment_azure::connect::TokenCredential>>,
    local: Option<(LocalStore, Arc<LocalDocuments>)>,
    backend_name: &'static str,
}

/// The production extractor: worker processes of this executable (`handler extract-worker`), each
/// under the configured memory, CPU and wall-time limits.
///
/// # Errors
/// When the executable's path cannot be found.
pub fn sandbox(settings: &Settings) -> anyhow::Result<Arc<dyn Extractor>> {
    let ix = &settings.indexing;
    let program = match &ix.worker_program {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("locating the handler executable")?,
    };
    let limits = clment_extract::Limits {
        max_pages: ix.extract_max_pages,
        memory: ix.extract_memory_bytes,
        cpu_seconds: ix.extract_timeout.as_secs(),
        max_input: settings.max_upload_bytes,
        ..clment_extract::Limits::default()
    };
    Ok(Arc::new(clment_extract::Sandbox::new(
        clment_extract::SandboxConfig {
            program,
            args: vec![crate::cli::EXTRACT_WORKER.to_owned()],
            limits,
            wall_time: ix.extract_timeout,
            max_concurrent: ix.extract_workers,
        },
    )))
}

/// The embedding deployment, when configured.
///
/// # Errors
/// When the settings cannot make a client.
fn embedder(
    settings: &Settings,
    credential: Option<Arc<dyn clment_azure::connect::TokenCredential>>,
) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    let Some(e) = &settings.embeddings else {
        return Ok(None);
    };
    use clment_azure::embed::{AzureOpenAiEmbedder, EmbedAuth, EmbedderConfig};
    let auth = match (&e.api_key, credential) {
        (Some(key), _) => EmbedAuth::ApiKey(key.clone()),
        (None, Some(c)) => EmbedAuth::Credential(c),
        (None, None) => anyhow::bail!(
            "setting CLMENT_EMBEDDING_API_KEY: is required without a managed identity"
        ),
    };
    let config = EmbedderConfig::new(
        e.endpoint
            .parse()
            .context("setting CLMENT_EMBEDDING_ENDPOINT: not a URL")?,
        e.deployment.clone(),
        e.dimensions,
        auth,
    );
    Ok(Some(Arc::new(AzureOpenAiEmbedder::new(config)?)))
}

/// The review provider the settings name (`credential`: the managed identity, on Azure).
///
/// # Errors
/// When the settings cannot make a client.
pub fn review_provider(
    settings: &Settings,
    credential: Option<Arc<dyn clment_azure::connect::TokenCredential>>,
) -> anyhow::Result<Arc<dyn ReviewProvider>> {
    match &settings.review {
        ReviewSettings::Offline => Ok(Arc::new(OfflineProvider)),
        ReviewSettings::Foundry {
            endpoint,
            deployment,
            api_version,
            api_key,
            timeout,
            context_percent: _,
        } => {
            use clment_azure::foundry::{FoundryAuth, FoundryConfig, FoundryProvider};
            let auth = match (api_key, credential) {
                (Some(key), _) => FoundryAuth::ApiKey(key.clone()),
                (None, Some(c)) => FoundryAuth::Credential(c),
                (None, None) => anyhow::bail!(
                    "setting CLMENT_FOUNDRY_API_KEY: is required without a managed identity"
                ),
            };
            let mut config = FoundryConfig::new(
                endpoint
                    .parse()
                    .context("setting CLMENT_FOUNDRY_ENDPOINT: not a URL")?,
                deployment.clone(),
                auth,
            );
            config.api_version.clone_from(api_version);
            config.deadline = *timeout;
            config.request_timeout = config.request_timeout.min(*timeout);
            Ok(Arc::new(FoundryProvider::new(config)?))
        }
    }
}

/// A built application: bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Opens the backend, prepares token verification and binds the listener.
    ///
    /// # Errors
    /// When the backend cannot be opened or the port cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        match &settings.backend {
            Backend::Local { data_dir } => {
                let dir = DataDir::open(data_dir)?;
                let store = LocalStore::open(&dir).context(
                    "opening the local store (is another handler using this data directory?)",
                )?;
                let master = MasterKey::load_or_create(&dir, settings.master_key.as_ref())
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let documents = Arc::new(
                    LocalDocuments::open(&dir, store.clone(), master)
                        .context("opening the blob directory")?,
                );
                let shared = Arc::new(store.clone());
                // Each adapter holds its own copy of the master key (zeroized on drop).
                let key = || {
                    MasterKey::load_or_create(&dir, settings.master_key.as_ref())
                        .map_err(|e| anyhow::anyhow!("{e}"))
                };
                let index = Arc::new(
                    clment_local::LocalIndex::open(&dir, store.clone(), key()?)
                        .map_err(|e| anyhow::anyhow!("opening the search index: {e}"))?,
                );
                let texts = Arc::new(
                    clment_local::LocalTexts::open(&dir, store.clone(), key()?)
                        .context("opening the extracted-text directory")?,
                );
                let reviews = Arc::new(
                    clment_local::LocalReviews::open(store.clone(), key()?)
                        .map_err(|e| anyhow::anyhow!("opening the review store: {e}"))?,
                );
                let ports = Ports {
                    reviews,
                    audit_archive: None,
                    jobs: shared.clone(),
                    orgs: shared.clone(),
                    keys: shared.clone(),
                    audit: shared.clone(),
                    contracts: shared.clone(),
                    documents: documents.clone(),
                    health: vec![shared.clone(), index.clone()],
                    index,
                    texts,
                    queue: Some(shared),
                    extractor: None,
                    credential: None,
                    local: Some((store, documents)),
                    backend_name: "local",
                };
                Self::assemble(settings, ports, Some(&dir)).await
            }
            Backend::Azure {
                blob_url,
                cosmos_url,
                queue_url,
                cosmos_database,
                managed_identity_client_id,
                search_url,
                search_index,
            } => {
                let url = |name: &str, v: &str| {
                    v.parse::<clment_azure::connect::Url>()
                        .with_context(|| format!("setting {name}: not a URL"))
                };
                let mut endpoints = AzureEndpoints::new(
                    url("CLMENT_AZURE_BLOB_URL", blob_url)?,
                    url("CLMENT_AZURE_COSMOS_URL", cosmos_url)?,
                    url("CLMENT_AZURE_QUEUE_URL", queue_url)?,
                );
                endpoints.database.clone_from(cosmos_database);
                endpoints.search = Some(url("CLMENT_AZURE_SEARCH_URL", search_url)?);
                endpoints.search_index.clone_from(search_index);
                endpoints.vector_dimensions = settings.embeddings.as_ref().map(|e| e.dimensions);
                let credential =
                    clment_azure::connect::managed_identity(managed_identity_client_id.as_deref())
                        .context("setting up the managed identity")?;
                let backend = clment_azure::connect::connect(&endpoints, credential)
                    .await
                    .context("connecting to the Azure backend")?;
                Self::with_azure(settings, backend).await
            }
        }
    }

    /// The application over an already built Azure backend (production after [`Self::build`]
    /// connects; tests pass adapters built against the emulators).
    ///
    /// # Errors
    /// When token verification cannot be prepared or the port cannot be bound.
    pub async fn with_azure(settings: Settings, b: AzureBackend) -> anyhow::Result<Self> {
        Self::with_azure_and_extractor(settings, b, None).await
    }

    /// As [`Self::with_azure`], with an extractor other than worker processes of this executable
    /// (tests whose executable is not the handler).
    ///
    /// # Errors
    /// As [`Self::with_azure`].
    pub async fn with_azure_and_extractor(
        settings: Settings,
        b: AzureBackend,
        extractor: Option<Arc<dyn Extractor>>,
    ) -> anyhow::Result<Self> {
        let ports = Ports {
            reviews: b.reviews,
            audit_archive: Some(b.audit_archive),
            jobs: b.jobs,
            orgs: b.orgs,
            keys: b.api_keys,
            audit: b.audit,
            contracts: b.contracts,
            documents: b.documents,
            health: b.health,
            index: b.index,
            texts: b.texts,
            queue: None,
            extractor,
            credential: Some(b.credential),
            local: None,
            backend_name: "azure",
        };
        Self::assemble(settings, ports, None).await
    }

    async fn assemble(
        settings: Settings,
        ports: Ports,
        dir: Option<&DataDir>,
    ) -> anyhow::Result<Self> {
        let (policy, source): (TokenPolicy, Arc<dyn KeySource>) = match &settings.identity {
            Identity::DevIssuer { audience } => {
                let dir = dir.context("the development issuer needs the local backend")?;
                let issuer = DevIssuer::load_or_create(dir)?;
                tracing::warn!(
                    "development issuer enabled: tokens from `handler dev-token` are accepted"
                );
                (
                    TokenPolicy::new(DEV_ISSUER, audience),
                    Arc::new(StaticKeySource(issuer.jwks().clone())),
                )
            }
            Identity::Issuer {
                issuer,
                audience,
                jwks_url,
            } => (
                TokenPolicy::new(issuer, audience),
                Arc::new(HttpKeySource::new(jwks_url, JWKS_FETCH_TIMEOUT)?),
            ),
        };
        let mut policy = policy;
        policy.algorithms.clone_from(&settings.algorithms);
        policy.required_typ.clone_from(&settings.token_type);
        let cache = CachePolicy {
            ttl: settings.jwks_cache,
            ..CachePolicy::default()
        };
        let mut operator_policy = policy.clone();
        operator_policy
            .audience
            .clone_from(&settings.operator_audience);
        let jwks = Arc::new(JwksCache::new(source, cache));
        let tokens = TokenValidator::new(policy, Arc::clone(&jwks));
        let operator_tokens = TokenValidator::new(operator_policy, jwks);
        let (digest_signer, digest_keys) = digest_keys(&settings, dir)?;

        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("binding {}", settings.addr))?;
        let limiter = clment_common::ratelimit::RateLimiter::new(settings.rate_limits);
        let extractor = match ports.extractor {
            Some(x) => x,
            None => sandbox(&settings)?,
        };
        let reviewer = review_provider(&settings, ports.credential.clone())?;
        let embedder = embedder(&settings, ports.credential)?;
        ports
            .index
            .ensure_ready()
            .await
            .map_err(|e| anyhow::anyhow!("preparing the search index: {e}"))?;
        let queue = ports.queue;
        let (local, local_documents) = match ports.local {
            Some((store, docs)) => (Some(store), Some(docs)),
            None => (None, None),
        };
        let state = AppState::new(Inner {
            settings,
            tokens,
            operator_tokens,
            jobs: ports.jobs,
            orgs: ports.orgs,
            keys: ports.keys,
            audit: ports.audit,
            contracts: ports.contracts,
            documents: ports.documents,
            index: ports.index,
            texts: ports.texts,
            reviews: ports.reviews,
            audit_archive: ports.audit_archive,
            reviewer,
            extractor,
            embedder,
            work_ready: Arc::new(tokio::sync::Notify::new()),
            queue,
            local,
            local_documents,
            health: ports.health,
            openapi: openapi::render(),
            limiter,
            digest_signer,
            digest_keys,
            backend_name: ports.backend_name,
        });
        if state.local.is_some() {
            // One process and nothing in flight yet: no grace. (On Azure other instances serve while
            // this one starts, so only the `reconcile` timer runs it, with the grace.)
            crate::reconcile::reconcile(&state, Duration::ZERO)
                .await
                .context("reconciling storage")?;
        }
        Ok(Self { listener, state })
    }

    /// The bound port (useful with port 0).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// The shared state (tests inspect ports through it).
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight requests finish
    /// within the grace period. Queued work is already durable (every enqueue commits before it is
    /// acknowledged), so nothing is lost when the grace period runs out.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) {
        let grace = self.state.settings.shutdown_grace;
        let port = self.port();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = warp::serve(http::filter(self.state.clone()))
            .incoming(self.listener)
            .graceful(async {
                let _ = stop_rx.await;
            })
            .run();
        tracing::info!(port, region = %self.state.settings.region, backend = self.state.backend_name, "listening");
        // Idle rate-limit buckets are full again: drop them so memory stays bounded by active tenants.
        let pruner = {
            let state = self.state.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(60));
                loop {
                    every.tick().await;
                    state.limiter.prune();
                }
            })
        };
        // Locally the digest signer runs here; on Azure the `audit-digest` timer function calls the
        // same code.
        let signer = {
            let state = self.state.clone();
            tokio::spawn(async move {
                // The first signing is one interval after start-up, not at once.
                let period = state.settings.audit_digest_interval;
                let mut every =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    crate::triggers::audit_digest::sign_now(&state).await;
                }
            })
        };
        // Locally the reconciler runs here too (start-up ran it already); on Azure the `reconcile` timer
        // function calls the same code.
        let reconciler = {
            let state = self.state.clone();
            tokio::spawn(async move {
                if state.local.is_none() {
                    return;
                }
                let period = crate::reconcile::RECONCILE_INTERVAL;
                let mut every =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    crate::triggers::reconcile::run_now(&state).await;
                }
            })
        };
        // Locally, indexing workers consume the durable queue (on Azure the blob trigger indexes).
        let workers = match &self.state.queue {
            Some(q) if self.state.settings.indexing.background => crate::worker::spawn(
                &self.state,
                q.clone(),
                self.state.settings.indexing.extract_workers,
            ),
            _ => Vec::new(),
        };
        tokio::pin!(server);
        tokio::select! {
            () = &mut server => {}
            () = shutdown => {
                tracing::info!(grace_secs = grace.as_secs(), "shutting down: no new connections, finishing in-flight requests");
                let _ = stop_tx.send(());
                if tokio::time::timeout(grace, &mut server).await.is_err() {
                    tracing::warn!("grace period over; abandoning unfinished requests");
                }
            }
        }
        pruner.abort();
        signer.abort();
        reconciler.abort();
        for w in workers {
            w.abort();
        }
        drop(self.state);
        tracing::info!("stopped");
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) {
        self.run_until(shutdown_signal()).await;
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
