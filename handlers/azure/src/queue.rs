//! Background jobs on Azure Queue Storage: the [`JobSink`] producers use on Azure. A queue-triggered
//! function consumes the queue; the Functions host leases, retries and finally poisons messages
//! (`<queue>-poison`), so nothing here leases or completes jobs (that is the local-only `JobQueue`).
//!
//! Message format: the [`Job`] as JSON (`{"kind":"index-contract","org":…,"contract":…}`: ids and
//! sizes only, never contract text), base64-encoded. Base64 is what the Functions queue trigger
//! expects by default (the Storage Queues extension's `messageEncoding` is `base64` unless host.json
//! sets `extensions.queues.messageEncoding` to `none`), so a raw JSON message would be refused by the
//! trigger as invalid base64. Messages never expire (TTL -1): a job is only removed by its consumer or
//! the host's poison handling, never silently after the default 7 days.
//!
//! Authentication is whatever the caller passes: production passes a managed-identity
//! `TokenCredential`; nothing here holds a secret. SDK errors become [`JobError`]s or [`PortError`]s
//! carrying the HTTP status and the storage error code only.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, Url};
use azure_storage_queue::models::{QueueClientSendMessageOptions, QueueMessage, StorageErrorCode};
use azure_storage_queue::{QueueClient, QueueServiceClient, QueueServiceClientOptions};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clment_common::ports::{HealthCheck, Job, JobError, JobSink, PortError};

/// The queue that holds background jobs, unless configured otherwise.
pub const DEFAULT_QUEUE: &str = "clment-jobs";

/// The message time-to-live sent with every job: never expires.
const NEVER_EXPIRES: i32 = -1;

/// The adapter could not be configured (a bad URL or queue name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue storage configuration: {0}")]
pub struct QueueConfigError(String);

/// The [`JobSink`] on Azure Queue Storage (and [`HealthCheck`], named `storage-queue`).
#[derive(Clone)]
pub struct StorageQueueJobs {
    queue: Arc<QueueClient>,
}

impl std::fmt::Debug for StorageQueueJobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageQueueJobs")
            .field("queue", &self.queue.url().as_str())
            .finish()
    }
}

/// Whether `name` is a valid queue name: 3 to 63 lowercase letters, digits and single hyphens, starting
/// and ending with a letter or digit.
fn valid_queue_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

impl StorageQueueJobs {
    /// An adapter for `queue` (usually [`DEFAULT_QUEUE`]) in the account at `service_url`
    /// (`https://<account>.queue.core.windows.net`, or Azurite's
    /// `http://127.0.0.1:<port>/devstoreaccount1`).
    ///
    /// `credential` signs requests with Entra ID tokens (production: the function app's managed
    /// identity); the SDK requires `https` when one is given. `options` sets transport, retries and
    /// extra pipeline policies (tests use it to sign for the emulator).
    ///
    /// # Errors
    /// When the URL does not parse, the queue name is invalid, or the SDK rejects the URL (for example
    /// a credential over `http`).
    pub fn new(
        service_url: &str,
        credential: Option<Arc<dyn TokenCredential>>,
        options: Option<ClientOptions>,
        queue: &str,
    ) -> Result<Self, QueueConfigError> {
        if !valid_queue_name(queue) {
            return Err(QueueConfigError(format!("bad queue name {queue:?}")));
        }
        let mut url = Url::parse(service_url)
            .map_err(|e| QueueConfigError(format!("service URL {service_url:?}: {e}")))?;
        // The SDK appends the queue name as a path segment: drop a trailing slash first, so
        // `https://acct.queue.core.windows.net/` and Azurite's `…/devstoreaccount1` both work.
        url.path_segments_mut()
            .map_err(|()| QueueConfigError(format!("service URL {service_url:?} is not a base")))?
            .pop_if_empty();
        let options = QueueServiceClientOptions {
            client_options: options.unwrap_or_default(),
            ..Default::default()
        };
        let service = QueueServiceClient::new(url, credential, Some(options))
            .map_err(|e| QueueConfigError(e.to_string()))?;
        let queue = service
            .queue_client(queue)
            .map_err(|e| QueueConfigError(e.to_string()))?;
        Ok(Self {
            queue: Arc::new(queue),
        })
    }

    /// The queue's URL (no credentials in it).
    #[must_use]
    pub fn url(&self) -> &Url {
        self.queue.url()
    }

    /// Creates the queue when it is missing (development and tests; production provisions it in
    /// infrastructure, and its identity may not be allowed to create queues).
    ///
    /// # Errors
    /// [`PortError::Unavailable`] when the service refuses or cannot be reached.
    pub async fn ensure_queue(&self) -> Result<(), PortError> {
        match self.queue.create(None).await {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &StorageErrorCode::QueueAlreadyExists) => Ok(()),
            Err(e) => Err(PortError::Unavailable(describe(&e))),
        }
    }

    /// Checks that the queue answers (Get Queue Metadata).
    ///
    /// # Errors
    /// [`PortError::Unavailable`] with an operator-facing reason.
    pub async fn health(&self) -> Result<(), PortError> {
        match self.queue.get_properties(None).await {
            Ok(_) => Ok(()),
            Err(e) if has_code(&e, &StorageErrorCode::QueueNotFound) => Err(
                PortError::Unavailable("the job queue does not exist".into()),
            ),
            Err(e) => Err(PortError::Unavailable(describe(&e))),
        }
    }

    /// A job as queue message text: base64 of its JSON.
    ///
    /// # Errors
    /// [`JobError::Store`] when the job does not serialise (it always does).
    pub fn encode(job: &Job) -> Result<String, JobError> {
        let json =
            serde_json::to_vec(job).map_err(|e| JobError::Store(format!("serialise job: {e}")))?;
        Ok(STANDARD.encode(json))
    }

    /// The job in a queue message's text (the inverse of [`Self::encode`]), for tools and tests: the
    /// queue trigger receives the message already base64-decoded by the Functions host.
    ///
    /// # Errors
    /// [`JobError::Store`] when the text is not base64 of a job's JSON.
    pub fn decode(text: &str) -> Result<Job, JobError> {
        let json = STANDARD
            .decode(text.trim())
            .map_err(|e| JobError::Store(format!("job message is not base64: {e}")))?;
        serde_json::from_slice(&json).map_err(|e| JobError::Store(format!("job message: {e}")))
    }
}

#[async_trait]
impl JobSink for StorageQueueJobs {
    async fn enqueue(&self, job: Job) -> Result<String, JobError> {
        let message = QueueMessage {
            message_text: Some(Self::encode(&job)?),
        };
        let content = message
            .try_into()
            .map_err(|e: azure_core::Error| JobError::Store(format!("queue message: {e}")))?;
        let options = QueueClientSendMessageOptions {
            message_time_to_live: Some(NEVER_EXPIRES),
            ..Default::default()
        };
        let sent = self
            .queue
            .send_message(content, Some(options))
            .await
            .map_err(|e| {
                let reason = describe(&e);
                tracing::warn!(error = %reason, "enqueue failed");
                JobError::Store(reason)
            })?
            .into_model()
            .and_then(azure_storage_queue::models::ListOfSentMessage::into_message)
            .map_err(|e| JobError::Store(format!("queue storage: send answer: {e}")))?;
        sent.message_id
            .ok_or_else(|| JobError::Store("queue storage: no message id in the answer".into()))
    }
}

#[async_trait]
impl HealthCheck for StorageQueueJobs {
    fn name(&self) -> &'static str {
        "storage-queue"
    }

    async fn probe(&self) -> Result<(), String> {
        self.health().await.map_err(|e| e.to_string())
    }
}

fn error_code(e: &azure_core::Error) -> Option<&str> {
    match e.kind() {
        ErrorKind::HttpResponse {
            error_code: Some(code),
            ..
        } => Some(code.as_str()),
        _ => None,
    }
}

fn has_code(e: &azure_core::Error, code: &StorageErrorCode) -> bool {
    error_code(e) == Some(code.as_ref())
}

/// An operator-facing reason: status and storage error code when the service answered, else the
/// transport error.
fn describe(e: &azure_core::Error) -> String {
    let status = e.http_status().map(u16::from);
    match (status, error_code(e)) {
        (Some(s), Some(code)) => format!("queue storage: {s} {code}"),
        (Some(s), None) => format!("queue storage: HTTP {s}"),
        _ => format!("queue storage: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clment_common::domain::{ContractId, OrgId};

    #[test]
    fn messages_are_base64_json_of_the_job() {
        let job = Job::IndexContract {
            org: OrgId::parse("acme").unwrap(),
            contract: ContractId::new(),
            size: Some(42),
        };
        let text = StorageQueueJobs::encode(&job).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&STANDARD.decode(&text).unwrap()).unwrap();
        assert_eq!(json["kind"], "index-contract");
        assert_eq!(json["org"], "acme");
        assert_eq!(StorageQueueJobs::decode(&text).unwrap(), job);
        assert!(StorageQueueJobs::decode("{not base64}").is_err());
    }

    #[test]
    fn queue_names_follow_the_service_rules() {
        for ok in ["clment-jobs", "abc", "a1-b2"] {
            assert!(valid_queue_name(ok), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "Jobs",
            "-jobs",
            "jobs-",
            "a--b",
            "a/b",
            &"a".repeat(64),
        ] {
            assert!(!valid_queue_name(bad), "{bad:?}");
        }
        assert!(
            StorageQueueJobs::new("https://a.queue.core.windows.net", None, None, "x/y").is_err()
        );
    }

    #[test]
    fn the_queue_url_is_the_service_url_plus_the_name() {
        for base in [
            "https://acct.queue.core.windows.net",
            "https://acct.queue.core.windows.net/",
        ] {
            let q = StorageQueueJobs::new(base, None, None, DEFAULT_QUEUE).unwrap();
            assert_eq!(
                q.url().as_str(),
                "https://acct.queue.core.windows.net/clment-jobs"
            );
        }
        let q = StorageQueueJobs::new(
            "http://127.0.0.1:10001/devstoreaccount1",
            None,
            None,
            "jobs",
        )
        .unwrap();
        assert_eq!(
            q.url().as_str(),
            "http://127.0.0.1:10001/devstoreaccount1/jobs"
        );
    }
}
