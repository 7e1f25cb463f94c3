//! The Queue Storage job sink against Azurite 3.37's queue service (installed from npm by
//! `scripts/test`): not the real service, but the same REST API and the real SDK client. One emulator
//! per test binary (see `support/azurite.rs`); every test uses a queue of its own.
//!
//! Auth: plain HTTP with the test-only shared-key signing policy in the client options (no
//! credential). Production passes a managed-identity `TokenCredential` instead.

mod support;

use std::net::TcpListener;

use azure_storage_queue::models::{
    QueueClientPeekMessagesOptions, QueueClientReceiveMessagesOptions,
};
use azure_storage_queue::{QueueClient, QueueClientOptions};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clment_azure::queue::StorageQueueJobs;
use clment_common::domain::{ContractId, OrgId};
use clment_common::ports::{BackendHealth, HealthCheck, HealthStatus, Job, JobError, JobSink};
use support::azurite::Azurite;

fn fresh_queue() -> String {
    format!("jobs-{}", uuid::Uuid::new_v4().simple())
}

async fn jobs(queue: &str) -> StorageQueueJobs {
    let jobs = StorageQueueJobs::new(
        &Azurite::shared_queue().service_url(),
        None,
        Some(Azurite::client_options()),
        queue,
    )
    .expect("adapter");
    jobs.ensure_queue().await.expect("queue");
    jobs
}

/// A plain SDK client on the same queue, to look at what the adapter sent.
fn raw(queue: &str) -> QueueClient {
    let url = format!("{}/{queue}", Azurite::shared_queue().service_url());
    QueueClient::new(
        url.parse().expect("url"),
        None,
        Some(QueueClientOptions {
            client_options: Azurite::client_options(),
            ..Default::default()
        }),
    )
    .expect("queue client")
}

fn job(org: &str, size: Option<u64>) -> Job {
    Job::IndexContract {
        org: OrgId::parse(org).unwrap(),
        contract: ContractId::new(),
        size,
    }
}

#[tokio::test]
async fn an_enqueued_job_arrives_as_base64_json_with_ids_only() {
    let name = fresh_queue();
    let jobs = jobs(&name).await;
    let sent = job("acme", Some(1234));
    let Job::IndexContract { contract, .. } = &sent else {
        unreachable!("an indexing job")
    };
    let id = jobs.enqueue(sent.clone()).await.unwrap();
    assert!(!id.is_empty());

    let peeked = raw(&name)
        .peek_messages(Some(QueueClientPeekMessagesOptions {
            number_of_messages: Some(32),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(peeked.len(), 1);
    assert_eq!(peeked[0].message_id.as_deref(), Some(id.as_str()));
    let text = peeked[0].message_text.as_deref().unwrap();
    // Decoded independently of the adapter: base64, then exactly the job's ids and size.
    let json: serde_json::Value = serde_json::from_slice(&STANDARD.decode(text).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "kind": "index-contract",
            "org": "acme",
            "contract": contract.to_string(),
            "size": 1234,
        })
    );
    assert_eq!(StorageQueueJobs::decode(text).unwrap(), sent);

    // Received (as the trigger would): the same message, first delivery, and it does not expire.
    let received = raw(&name)
        .receive_messages(Some(QueueClientReceiveMessagesOptions {
            number_of_messages: Some(32),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    let m = &received[0];
    assert_eq!(m.message_id.as_deref(), Some(id.as_str()));
    assert_eq!(m.dequeue_count, Some(1));
    assert_eq!(
        StorageQueueJobs::decode(m.message_text.as_deref().unwrap()).unwrap(),
        sent
    );
    let expires = m.expiration_time.expect("expiration time");
    assert!(
        expires.year() >= 9999,
        "the message expires at {expires}, it should never"
    );
}

#[tokio::test]
async fn each_enqueue_is_one_message_in_order() {
    let name = fresh_queue();
    let jobs = jobs(&name).await;
    let sent = [
        job("acme", None),
        job("globex", Some(1)),
        job("acme", Some(2)),
    ];
    let mut ids = Vec::new();
    for j in &sent {
        ids.push(jobs.enqueue(j.clone()).await.unwrap());
    }
    let peeked = raw(&name)
        .peek_messages(Some(QueueClientPeekMessagesOptions {
            number_of_messages: Some(32),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_model()
        .unwrap()
        .items
        .unwrap_or_default();
    let got: Vec<(String, Job)> = peeked
        .iter()
        .map(|m| {
            (
                m.message_id.clone().unwrap(),
                StorageQueueJobs::decode(m.message_text.as_deref().unwrap()).unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, Job)> = ids.into_iter().zip(sent).collect();
    assert_eq!(got, want);
    // ensure_queue is idempotent and leaves the messages.
    jobs.ensure_queue().await.unwrap();
    assert_eq!(
        raw(&name)
            .peek_messages(Some(QueueClientPeekMessagesOptions {
                number_of_messages: Some(32),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_model()
            .unwrap()
            .items
            .unwrap_or_default()
            .len(),
        3
    );
}

/// The public health answer carries the name and status only; the probe's reason stays in `detail`,
/// which is never serialised.
fn public(check: &dyn HealthCheck, result: &Result<(), String>) -> serde_json::Value {
    serde_json::to_value(BackendHealth {
        name: check.name().to_owned(),
        status: if result.is_ok() {
            HealthStatus::Ok
        } else {
            HealthStatus::Down
        },
        latency_ms: 1,
        detail: result.clone().err(),
    })
    .unwrap()
}

#[tokio::test]
async fn health_is_ok_for_the_queue_and_down_when_missing_or_unreachable() {
    let name = fresh_queue();
    let jobs = jobs(&name).await;
    assert_eq!(jobs.name(), "storage-queue");
    let ok = jobs.probe().await;
    assert_eq!(ok, Ok(()));
    assert_eq!(public(&jobs, &ok)["status"], "ok");

    // A queue that does not exist: down, with a reason for the log.
    let missing = StorageQueueJobs::new(
        &Azurite::shared_queue().service_url(),
        None,
        Some(Azurite::client_options()),
        &fresh_queue(),
    )
    .unwrap();
    let down = missing.probe().await;
    assert!(
        down.as_ref().unwrap_err().contains("does not exist"),
        "{down:?}"
    );
    assert!(matches!(
        missing.enqueue(job("acme", None)).await,
        Err(JobError::Store(_))
    ));

    // A closed port: down, and enqueue fails rather than pretending.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let closed = StorageQueueJobs::new(
        &format!("http://127.0.0.1:{port}/devstoreaccount1"),
        None,
        Some(Azurite::client_options()),
        "jobs",
    )
    .unwrap();
    let down = closed.probe().await;
    let reason = down.clone().unwrap_err();
    assert!(!reason.is_empty());
    let body = public(&closed, &down);
    assert_eq!(body["status"], "down");
    assert_eq!(body["name"], "storage-queue");
    assert!(
        !body.to_string().contains("127.0.0.1") && body.get("detail").is_none(),
        "{body}"
    );
    assert!(matches!(
        closed.enqueue(job("acme", None)).await,
        Err(JobError::Store(_))
    ));
}
