//! The sandbox's process handling: wall-time kills, signals, concurrency, pipes and redaction.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clment_common::content::ContentKind;
use clment_common::ports::{ExtractError, ExtractFailureCode, Extractor};
use clment_extract::{Limits, Sandbox, SandboxConfig};
use common::{config, data, sandbox};

/// A sandbox whose "worker" is a shell script (the worker flags become ignored `$@`).
fn shell(script: &str) -> Sandbox {
    Sandbox::new(SandboxConfig {
        args: vec!["-c".into(), script.into(), "sh".into()],
        wall_time: Duration::from_secs(10),
        ..SandboxConfig::new("/bin/sh")
    })
}

fn code(r: &Result<clment_common::ports::Extracted, ExtractError>) -> ExtractFailureCode {
    match r {
        Err(ExtractError::Failed { code, .. }) => *code,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_worker_past_the_wall_time_is_killed() {
    let slow = Sandbox::new(SandboxConfig {
        wall_time: Duration::from_millis(300),
        ..shell("exec /bin/sleep 30").config().clone()
    });
    let started = Instant::now();
    let r = slow.extract(ContentKind::Pdf, b"%PDF-1.4".to_vec()).await;
    assert_eq!(code(&r), ExtractFailureCode::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_real_worker_is_killed_at_a_tiny_wall_time() {
    let tiny = Sandbox::new(SandboxConfig {
        wall_time: Duration::from_millis(5),
        ..config()
    });
    let bytes = std::fs::read(data("docs/good/sample__GeoTopo-komprimiert.pdf")).unwrap();
    let started = Instant::now();
    let r = tiny.extract(ContentKind::Pdf, bytes).await;
    assert_eq!(code(&r), ExtractFailureCode::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn exits_and_signals_are_mapped() {
    let cpu = shell("ulimit -t 1; while :; do :; done");
    let r = cpu.extract(ContentKind::Pdf, Vec::new()).await;
    assert_eq!(code(&r), ExtractFailureCode::Timeout, "{r:?}");

    let abort = shell("kill -ABRT $$");
    let r = abort.extract(ContentKind::Pdf, Vec::new()).await;
    assert_eq!(code(&r), ExtractFailureCode::Unreadable);
    assert!(
        r.unwrap_err()
            .to_string()
            .contains("the document crashed the extractor (signal 6)")
    );

    let segv = shell("kill -SEGV $$");
    let r = segv.extract(ContentKind::Pdf, Vec::new()).await;
    assert!(r.unwrap_err().to_string().contains("(signal 11)"));

    let panicked = shell("exit 101");
    assert_eq!(
        code(&panicked.extract(ContentKind::Pdf, Vec::new()).await),
        ExtractFailureCode::Unreadable
    );

    let garbage = shell("echo 'not json'");
    assert_eq!(
        code(&garbage.extract(ContentKind::Pdf, Vec::new()).await),
        ExtractFailureCode::Unreadable
    );

    let usage = shell("exit 64");
    assert!(matches!(
        usage.extract(ContentKind::Pdf, Vec::new()).await,
        Err(ExtractError::Unavailable(_))
    ));

    let missing = Sandbox::new(SandboxConfig::new("/nonexistent/clment-worker"));
    assert!(matches!(
        missing.extract(ContentKind::Pdf, Vec::new()).await,
        Err(ExtractError::Unavailable(_))
    ));
}

#[tokio::test]
async fn endless_output_is_cut_off() {
    let chatty = Sandbox::new(SandboxConfig {
        limits: Limits {
            max_chars: 1000,
            ..Limits::default()
        },
        ..shell("exec /usr/bin/yes").config().clone()
    });
    let started = Instant::now();
    let r = chatty.extract(ContentKind::Pdf, Vec::new()).await;
    assert_eq!(code(&r), ExtractFailureCode::TooLarge);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_concurrent_workers_run_and_the_rest_wait() {
    let reply = r#"{"ok":{"text":"done","pages":[0]}}"#;
    let limited = Arc::new(Sandbox::new(SandboxConfig {
        max_concurrent: 2,
        ..shell(&format!("/bin/sleep 0.4; echo '{reply}'"))
            .config()
            .clone()
    }));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let sandbox = Arc::clone(&limited);
        tasks.spawn(async move { sandbox.extract(ContentKind::Text, b"x".to_vec()).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap().text, "done");
    }
    // Five rounds of two.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(2000), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_real_documents_at_once_with_two_workers() {
    let limited = Arc::new(Sandbox::new(SandboxConfig {
        max_concurrent: 2,
        ..config()
    }));
    let docs = common::files("docs/good", &["docx"]);
    let mut tasks = tokio::task::JoinSet::new();
    for path in docs.into_iter().cycle().take(10) {
        let sandbox = Arc::clone(&limited);
        tasks.spawn(async move {
            let bytes = std::fs::read(&path).unwrap();
            sandbox.extract(ContentKind::Docx, bytes).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        assert!(!r.unwrap().unwrap().text.is_empty());
    }
}

#[tokio::test]
async fn text_round_trips_exactly_and_large_pipes_do_not_deadlock() {
    let sandbox = sandbox();
    let raw = "\u{feff}Clause 1.\r\nPrice: 5 €\rend\n\u{c}x".to_owned();
    let out = sandbox
        .extract(ContentKind::Text, raw.clone().into_bytes())
        .await
        .unwrap();
    assert_eq!(out.text, raw);
    assert_eq!(out.pages, vec![0]);

    // About 4.5 million characters in and out: both pipes fill up many times over.
    let big: String = "The Licensee shall pay the fees. ".repeat(140_000);
    let out = sandbox
        .extract(ContentKind::Text, big.clone().into_bytes())
        .await
        .unwrap();
    assert_eq!(out.text.len(), big.len());
    assert!(out.text == big);

    let r = sandbox
        .extract(ContentKind::Text, b"caf\xE9 au lait".to_vec())
        .await;
    assert_eq!(code(&r), ExtractFailureCode::Unreadable);
}

#[tokio::test]
async fn limits_reach_the_worker() {
    let small = Sandbox::new(SandboxConfig {
        limits: Limits {
            max_chars: 10,
            max_input: 100,
            ..Limits::default()
        },
        ..config()
    });
    let r = small
        .extract(ContentKind::Text, b"eleven chars".to_vec())
        .await;
    assert_eq!(code(&r), ExtractFailureCode::TooLarge);
    let r = small.extract(ContentKind::Text, vec![b'a'; 101]).await;
    assert_eq!(code(&r), ExtractFailureCode::TooLarge);

    // A small address space still runs the worker (the stack shrinks to fit).
    let tight = Sandbox::new(SandboxConfig {
        limits: Limits {
            memory: 256 << 20,
            ..Limits::default()
        },
        ..config()
    });
    let bytes = std::fs::read(data("docs/good/sample__pdflatex-4-pages.pdf")).unwrap();
    assert_eq!(
        tight
            .extract(ContentKind::Pdf, bytes)
            .await
            .unwrap()
            .pages
            .len(),
        4
    );
}

#[tokio::test]
async fn neither_debug_nor_errors_show_document_text() {
    let sandbox = sandbox();
    let secret = "Confidential clause: the purchase price is 4,711,000 euros.";
    let out = sandbox
        .extract(ContentKind::Text, secret.as_bytes().to_vec())
        .await
        .unwrap();
    let debug = format!("{out:?}");
    assert!(
        !debug.contains("Confidential") && !debug.contains("4,711"),
        "{debug}"
    );
    assert!(debug.contains("chars"));

    let small = Sandbox::new(SandboxConfig {
        limits: Limits {
            max_chars: 10,
            ..Limits::default()
        },
        ..config()
    });
    let err = small
        .extract(ContentKind::Text, secret.as_bytes().to_vec())
        .await
        .unwrap_err();
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains("Confidential"), "{shown}");
    }
    // A PDF parser error quoting the file would show up here.
    let err = sandbox
        .extract(
            ContentKind::Pdf,
            format!("%PDF-1.7\n1 0 obj << /Title ({secret}) >>").into_bytes(),
        )
        .await
        .unwrap_err();
    assert!(!format!("{err:?}").contains("Confidential"), "{err:?}");
}
