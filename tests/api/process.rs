//! The real executable, started as the Functions host starts it: readiness, start-up validation,
//! the dev issuer's guard rails, logs, and graceful shutdown.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_handler");

fn command(data: &Path, port: u16) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("CLMENT_DATA_DIR", data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Polls `GET /` every 25 ms like the host until it answers.
fn wait_ready(port: u16) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                return started.elapsed();
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("handler did not become ready");
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    buf
}

/// A development token for an admin of `acme`, minted by the executable.
fn admin_token(data: &Path) -> String {
    let out = command(data, 0)
        .args(["dev-token", "--org", "acme", "--role", "admin"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Reads the child's stdout and stderr while it runs (trace level fills a pipe quickly); the
/// thread's result is both, once the child has exited.
fn drain_logs(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s + &stderr.join().unwrap()
    })
}

#[test]
fn starts_answers_the_readiness_probe_and_health_then_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = command(data.path(), port).spawn().unwrap();
    wait_ready(port);
    let health = http(
        port,
        "GET /api/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    sigterm(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    // Structured logs: every line is a JSON object; request lines carry id, route, status, latency.
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    let req = lines
        .iter()
        .find(|l| l["message"] == "request finished" && l["span"]["route"] == "/api/health")
        .expect("a request log line");
    assert_eq!(req["status"], 200);
    assert!(req["latency_us"].is_u64());
    assert!(req["span"]["request_id"].is_string());
    assert!(lines.iter().any(|l| l["message"] == "stopped"));
}

#[test]
fn a_bad_setting_stops_start_up_and_is_named() {
    let data = tempfile::tempdir().unwrap();
    for (k, v) in [
        ("CLMENT_REGION", "mars"),
        ("CLMENT_BACKEND", "s3"),
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "http"),
        ("CLMENT_AUTH_ALGORITHMS", "HS256"),
    ] {
        let out = command(data.path(), free_port())
            .env(k, v)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{k}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("setting {k}:")), "{k}: {err}");
    }
}

/// What the infrastructure writes for the EU plane.
const EU_PLACEMENT: &str = r#"{"locations":{"functionApp":"westeurope","storage":"westeurope","cosmos":["westeurope","northeurope"],"search":"westeurope","openai":"westeurope","keyVault":"westeurope"},"aiDeployments":{"chat":"DataZoneStandard","embedding":"DataZoneStandard"}}"#;

#[test]
fn the_dev_issuer_cannot_be_used_with_azure_or_a_real_issuer() {
    let data = tempfile::tempdir().unwrap();
    let out = command(data.path(), 0)
        .args(["dev-token", "--org", "acme"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split('.')
            .count(),
        3
    );

    // Azure: start-up requires a real issuer, and even with one the dev issuer refuses.
    let azure = [
        ("CLMENT_BACKEND", "azure"),
        ("CLMENT_REGION", "eu"),
        ("CLMENT_AZURE_BLOB_URL", "https://st.blob.core.windows.net"),
        ("CLMENT_AZURE_COSMOS_URL", "https://db.documents.azure.com"),
        (
            "CLMENT_AZURE_QUEUE_URL",
            "https://st.queue.core.windows.net",
        ),
        ("CLMENT_AZURE_SEARCH_URL", "https://srch.search.windows.net"),
        (
            "CLMENT_AUDIT_SIGNING_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        ("CLMENT_AZURE_PLACEMENT", EU_PLACEMENT),
    ];
    let out = command(data.path(), 0)
        .envs(azure)
        .args(["dev-token", "--org", "acme"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CLMENT_AUTH_ISSUER"));
    let issuer = [
        ("CLMENT_AUTH_ISSUER", "https://id.example"),
        ("CLMENT_AUTH_JWKS_URL", "https://id.example/jwks"),
    ];
    let out = command(data.path(), 0)
        .envs(azure)
        .envs(issuer)
        .args(["dev-token", "--org", "acme"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only available with CLMENT_BACKEND=local")
    );
    // The bundle refuses to start when a resource is outside its region's geography, naming it.
    let us_search = EU_PLACEMENT.replace("\"search\":\"westeurope\"", "\"search\":\"eastus2\"");
    let out = command(data.path(), 0)
        .envs(azure)
        .envs(issuer)
        .env("CLMENT_AZURE_PLACEMENT", &us_search)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CLMENT_AZURE_PLACEMENT") && err.contains("search") && err.contains("eastus2"),
        "{err}"
    );
    // Or when the platform says the app itself runs elsewhere.
    let out = command(data.path(), 0)
        .envs(azure)
        .envs(issuer)
        .env("REGION_NAME", "East US 2")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("REGION_NAME"));

    // Local with a real issuer configured: also refused (the server would not accept it).
    let out = command(data.path(), 0)
        .envs(issuer)
        .args(["dev-token", "--org", "acme"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// SIGTERM while a request is in flight: the listener closes, the in-flight request (an upload)
/// completes, the indexing it queued is not lost (still queued, or already done by a worker), and the
/// process exits cleanly.
#[test]
fn graceful_shutdown_finishes_in_flight_requests_and_keeps_queued_work() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let token = admin_token(data.path());
    let mut child = command(data.path(), port).spawn().unwrap();
    wait_ready(port);

    let body = "1. TERM. This Agreement runs for three years from the Effective Date.\n".repeat(40);
    let (head, tail) = body.split_at(body.len() / 2);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /api/orgs/acme/contracts HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
        body.len()
    )
    .unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(300));

    // No new connections once shutdown has begun.
    assert!(
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500))
            .is_err(),
        "listener still open after SIGTERM"
    );
    // The in-flight request still completes.
    s.write_all(tail.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let id = resp
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .and_then(|v| v["id"].as_str().map(str::to_owned))
        .expect("the created contract");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    // The acknowledged work survived the process: its indexing job is still queued, or a worker
    // finished it before the exit.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store =
        clment_local::LocalStore::open(&clment_local::DataDir::open(data.path()).unwrap()).unwrap();
    use clment_common::ports::{ContractStore as _, JobQueue as _};
    let queued = rt.block_on(store.count()).unwrap();
    let scope = clment_common::TenantScope::for_tests("acme", clment_common::domain::Region::Us);
    let record = rt
        .block_on(store.get(
            &scope,
            clment_common::domain::ContractId::parse(&id).unwrap(),
        ))
        .unwrap()
        .expect("the acknowledged contract exists");
    assert!(
        queued == 1 || record.status == clment_common::ports::ContractStatus::Indexed,
        "queued {queued}, status {:?}",
        record.status
    );
}

/// A canary planted in every part of a request never reaches the logs, even at trace level; nor does
/// one planted in a contract that is then uploaded, extracted, indexed, searched for and reviewed.
#[test]
fn request_content_never_reaches_the_logs_even_at_trace_level() {
    const CANARY: &str = "CANARY-f00d-4b1d";
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let token = admin_token(data.path());
    let mut child = command(data.path(), port)
        .env("CLMENT_LOG", "trace")
        .spawn()
        .unwrap();
    let logs = drain_logs(&mut child);
    wait_ready(port);
    let body =
        format!(r#"{{"Data":{{"blob":"{CANARY}"}},"Metadata":{{"name":"\"acme/x/{CANARY}\""}}}}"#);
    let _ = http(
        port,
        &format!(
            "POST /index-contract HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-secret: {CANARY}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let _ = http(
        port,
        &format!(
            "GET /api/me HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {CANARY}.{CANARY}.{CANARY}\r\nconnection: close\r\n\r\n"
        ),
    );
    // A contract holding the canary: uploaded, indexed (extraction worker, chunks, index), searched.
    let contract = format!("1. SECRET TERMS\nThe price is {CANARY} per unit.\n").repeat(30);
    let created = http(
        port,
        &format!(
            "POST /api/orgs/acme/contracts HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{contract}",
            contract.len()
        ),
    );
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let found = http(
            port,
            &format!(
                "GET /api/orgs/acme/search?q={CANARY} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
            ),
        );
        if found.contains("contractId") {
            break;
        }
        assert!(Instant::now() < until, "never searchable: {found}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Reviewed too: the text goes through the review pipeline (offline provider) and back out.
    let id = created
        .split("\"id\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let asked = http(
        port,
        &format!(
            "POST /api/orgs/acme/contracts/{id}/reviews HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
    );
    assert!(asked.starts_with("HTTP/1.1 202"), "{asked}");
    let location = asked
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap()
        .trim()
        .to_owned();
    loop {
        let review = http(
            port,
            &format!(
                "GET {location} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
            ),
        );
        if review.contains("\"status\":\"completed\"") {
            break;
        }
        assert!(!review.contains("\"status\":\"failed\""), "{review}");
        assert!(Instant::now() < until, "never reviewed: {review}");
        std::thread::sleep(Duration::from_millis(50));
    }
    sigterm(&child);
    child.wait().unwrap();
    let out = logs.join().unwrap();
    assert!(
        out.contains("request finished")
            && out.contains("contract indexed")
            && out.contains("review completed"),
        "logging works at trace level"
    );
    let lower = out.to_lowercase();
    assert!(
        !lower.contains(&CANARY.to_lowercase()),
        "canary leaked into logs"
    );
    assert!(
        !lower.contains("f00d-4b1d"),
        "canary words leaked into logs"
    );
}

/// Operators change an org's plan from the command line; the change is audited as theirs.
#[test]
fn admin_set_plan_is_applied_and_audited() {
    use clment_common::ports::{AuditLog as _, OrgStore as _, Plan};
    let data = tempfile::tempdir().unwrap();
    let out = command(data.path(), 0)
        .args([
            "admin",
            "set-plan",
            "--org",
            "acme",
            "--plan",
            "paid",
            "--operator",
            "alice",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = command(data.path(), 0)
        .args(["admin", "set-plan", "--org", "acme", "--plan", "gold"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let store =
        clment_local::LocalStore::open(&clment_local::DataDir::open(data.path()).unwrap()).unwrap();
    let scope = clment_common::TenantScope::for_tests("acme", clment_common::domain::Region::Us);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let org = rt
        .block_on(store.get_or_create(&scope, time::OffsetDateTime::now_utc()))
        .unwrap();
    assert_eq!(org.plan, Plan::Paid);
    let events = rt.block_on(store.read(&scope, 0, 10)).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.action, "org.plan_changed");
    assert_eq!(
        events[0].event.actor,
        clment_common::ports::Actor::operator("alice")
    );
}

fn split_response(raw: &str) -> (u16, String) {
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A process killed (SIGKILL) in the middle of uploads restarts with no half contract and no lost
/// acknowledged contract: every 201 is still listed and reads back identically, nothing else is.
#[test]
fn a_kill_during_uploads_loses_no_acknowledged_contract_and_leaves_no_half_one() {
    use std::collections::BTreeMap;
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let token = admin_token(data.path());
    let mut child = command(data.path(), port).spawn().unwrap();
    wait_ready(port);

    let upload = |body: &str| {
        http(
            port,
            &format!(
                "POST /api/orgs/acme/contracts HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    let mut acked = BTreeMap::new();
    for i in 0..10 {
        let text = format!("Acknowledged contract {i}. ").repeat(200);
        let (status, body) = split_response(&upload(&text));
        assert_eq!(status, 201, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        acked.insert(
            v["id"].as_str().unwrap().to_owned(),
            v["sha256"].as_str().unwrap().to_owned(),
        );
    }
    // Five uploads in flight: headers and half their bodies sent.
    let mut in_flight = Vec::new();
    for i in 0..5 {
        let text = format!("Never finished {i}. ").repeat(50_000);
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "POST /api/orgs/acme/contracts HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
            text.len()
        )
        .unwrap();
        s.write_all(&text.as_bytes()[..text.len() / 2]).unwrap();
        in_flight.push(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    drop(in_flight);

    let mut child = command(data.path(), port).spawn().unwrap();
    wait_ready(port);
    let (status, body) = split_response(&http(
        port,
        &format!(
            "GET /api/orgs/acme/contracts?limit=100 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
        ),
    ));
    assert_eq!(status, 200);
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    let listed: BTreeMap<String, String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(listed, acked, "exactly the acknowledged contracts survive");
    for id in acked.keys() {
        let raw = http(
            port,
            &format!(
                "GET /api/orgs/acme/contracts/{id}/content HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
            ),
        );
        assert!(raw.starts_with("HTTP/1.1 200"), "{id}");
    }
    sigterm(&child);
    child.wait().unwrap();
    // On disk: one sealed blob per acknowledged contract, no temporary files.
    let mut files = Vec::new();
    for org in std::fs::read_dir(data.path().join("blobs")).unwrap() {
        for f in walk_files(&org.unwrap().path()) {
            files.push(f);
        }
    }
    assert_eq!(files.len(), acked.len(), "{files:?}");
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Support's evidence commands: export a window and verify it from the store (server stopped).
#[test]
fn admin_audit_export_and_verify_work_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    for plan in ["paid", "free", "paid"] {
        let out = command(data.path(), 0)
            .args(["admin", "set-plan", "--org", "acme", "--plan", plan])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let out = command(data.path(), 0)
        .args(["admin", "audit-export", "--org", "acme", "--format", "csv"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.starts_with("seq,id,at,orgId,action"));
    let file = data.path().join("acme.ndjson");
    let out = command(data.path(), 0)
        .args([
            "admin",
            "audit-export",
            "--org",
            "acme",
            "--from",
            "2000-01-01T00:00:00Z",
            "--out",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 3);
    let out = command(data.path(), 0)
        .args(["admin", "audit-verify", "--org", "acme"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["eventsChecked"], 3);
    let out = command(data.path(), 0)
        .args([
            "admin",
            "audit-verify",
            "--org",
            "acme",
            "--from",
            "yesterday",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Peak resident memory of a process, from /proc (KiB).
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// The real handler indexes every hostile file of the shared corpus (zip bomb, XXE, 100,000 pages,
/// 100,000-deep nesting, loops, truncation, encryption, scans, extension lies): each upload ends
/// `indexed` or `failed` with a reason, the process stays up, and its own memory stays small because
/// extraction runs in limited worker processes.
#[test]
fn hostile_files_never_take_the_handler_down_or_its_memory_up() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let token = admin_token(data.path());
    let mut child = command(data.path(), port)
        .env("CLMENT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(port);
    let base = format!("http://127.0.0.1:{port}/api/orgs/acme/contracts");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/docs/hostile");
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let ct = if name.ends_with(".pdf") {
            "application/pdf"
        } else {
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        };
        let resp = rt.block_on(
            client
                .post(&base)
                .bearer_auth(&token)
                .header("content-type", ct)
                .body(std::fs::read(&path).unwrap())
                .send(),
        );
        // A refusal decided from the first bytes (type lies, empty files) may close the connection
        // before the client has sent the whole body; that is a refusal too.
        let Ok(resp) = resp else {
            continue;
        };
        let status = resp.status().as_u16();
        assert!(
            status == 201 || (400..500).contains(&status),
            "{name}: {status}"
        );
        if status == 201 {
            let v: serde_json::Value = rt.block_on(resp.json()).unwrap();
            ids.push((name, v["id"].as_str().unwrap().to_owned()));
        }
    }
    // The PDFs that are PDFs (encrypted, scan, 100,000 pages, deep nesting, loops, ...) are accepted:
    // without them this test would prove nothing.
    assert!(ids.len() >= 5, "accepted only {ids:?}");
    let until = Instant::now() + Duration::from_secs(240);
    for (name, id) in &ids {
        loop {
            let r: serde_json::Value = rt
                .block_on(async {
                    client
                        .get(format!("{base}/{id}"))
                        .bearer_auth(&token)
                        .send()
                        .await?
                        .json()
                        .await
                })
                .unwrap();
            match r["status"].as_str() {
                Some("indexed") => break,
                Some("failed") => {
                    assert!(r["failure"]["code"].is_string(), "{name}: {r}");
                    break;
                }
                _ => {
                    assert!(Instant::now() < until, "{name} did not settle: {r}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
    assert!(child.try_wait().unwrap().is_none(), "the handler exited");
    let peak = peak_rss_kib(child.id());
    assert!(peak < 200 * 1024, "handler peak RSS {peak} KiB");
    eprintln!(
        "handler peak RSS after {} hostile files: {} MiB",
        ids.len(),
        peak / 1024
    );
    sigterm(&child);
    assert!(child.wait().unwrap().success());
}

/// One request the chat stand-in saw: path with query, headers, body.
type SeenRequest = (String, Vec<(String, String)>, String);

/// Not the real Azure OpenAI service: a loopback stand-in speaking the chat-completions wire protocol
/// (a `chat.completion` object back). It records every request; the first is answered with `answer`
/// as the message content, every later one with a 400 whose error body echoes `echo` (as a content
/// filter's message might echo the prompt).
fn chat_stand_in(
    answer: String,
    echo: String,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<SeenRequest>>>) {
    use std::sync::{Arc, Mutex};
    use warp::Filter as _;
    let seen: Arc<Mutex<Vec<SeenRequest>>> = Arc::default();
    let record = seen.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let route = warp::any()
                .and(warp::path::full())
                .and(warp::query::raw().or(warp::any().map(String::new)).unify())
                .and(warp::header::headers_cloned())
                .and(warp::body::bytes())
                .map(move |path: warp::path::FullPath, query: String, headers: warp::http::HeaderMap, body: bytes::Bytes| {
                    let mut seen = record.lock().unwrap();
                    seen.push((
                        format!("{}?{query}", path.as_str()),
                        headers
                            .iter()
                            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                            .collect(),
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    if seen.len() == 1 {
                        let completion = serde_json::json!({
                            "id": "chatcmpl-stand-in", "object": "chat.completion", "created": 1_732_000_000,
                            "model": "gpt-4o-2024-08-06",
                            "choices": [{ "index": 0, "finish_reason": "stop",
                                "message": { "role": "assistant", "content": answer, "refusal": null } }],
                            "usage": { "prompt_tokens": 900, "completion_tokens": 120, "total_tokens": 1020 }
                        });
                        warp::reply::with_status(completion.to_string(), warp::http::StatusCode::OK)
                    } else {
                        let error = serde_json::json!({ "error": { "code": "content_filter", "message": format!("The prompt was filtered: {echo}") } });
                        warp::reply::with_status(error.to_string(), warp::http::StatusCode::BAD_REQUEST)
                    }
                })
                .map(|r| warp::reply::with_header(r, "content-type", "application/json"));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            warp::serve(route).incoming(listener).run().await;
        });
    });
    (rx.recv().unwrap(), seen)
}

/// The canary rule of reviews, on the real executable with the `foundry` provider against a chat
/// stand-in and trace logging: a canary planted in a contract clause reaches the model only in the
/// request body, comes back in the stored review only inside a verified excerpt (a hallucinated quote
/// holding it is dropped and counted), and appears in no log line, error body, audit event, job record
/// or file of the data directory (where everything is sealed).
#[test]
fn a_canary_in_a_reviewed_contract_stays_inside_verified_excerpts() {
    const CANARY: &str = "CANARY-rv-5e1f";
    let governing = format!(
        "This Agreement shall be governed by the laws of the State of Delaware (reference {CANARY})."
    );
    let assignment = "Neither party may assign this Agreement without the prior written consent of the other party.";
    let contract = format!(
        "SUPPLY AGREEMENT\n\n1. Supply. The Supplier shall supply the Products to the Buyer.\n\n\
         12. Governing Law. {governing}\n\n13. Assignment. {assignment}\n"
    );
    let answer = serde_json::json!({
        "summary": "A supply agreement between a supplier and a buyer.",
        "findings": [
            { "category": "governing-law", "present": true,
              "quotes": [{ "passage": 0, "text": governing }],
              "answer": "Delaware", "risk": "low", "reason": "A common choice of law." },
            { "category": "anti-assignment", "present": true,
              "quotes": [{ "passage": 0, "text": assignment },
                         { "passage": 0, "text": format!("Neither party may assign {CANARY} to anyone.") }],
              "answer": null, "risk": "medium", "reason": "Assignment needs consent." }
        ]
    })
    .to_string();
    let (model_port, seen) = chat_stand_in(answer, CANARY.to_owned());

    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let token = admin_token(data.path());
    let mut child = command(data.path(), port)
        .env("CLMENT_LOG", "trace")
        .env("CLMENT_REVIEW_PROVIDER", "foundry")
        .env(
            "CLMENT_FOUNDRY_ENDPOINT",
            format!("http://127.0.0.1:{model_port}"),
        )
        .env("CLMENT_FOUNDRY_DEPLOYMENT", "gpt-4o")
        .env("CLMENT_FOUNDRY_API_KEY", "stand-in-key-7d2")
        .env("CLMENT_FOUNDRY_TIMEOUT_SECS", "10")
        .spawn()
        .unwrap();
    let logs = drain_logs(&mut child);
    wait_ready(port);
    let get = |path: &str| {
        split_response(&http(
            port,
            &format!(
                "GET {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
            ),
        ))
    };
    let post = |path: &str, body: &str| {
        http(
            port,
            &format!(
                "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    let created = http(
        port,
        &format!(
            "POST /api/orgs/acme/contracts HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{contract}",
            contract.len()
        ),
    );
    let (status, body) = split_response(&created);
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let until = Instant::now() + Duration::from_secs(60);
    let wait_review = |location: &str| loop {
        let (_, body) = get(location);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if matches!(v["status"].as_str(), Some("completed" | "failed")) {
            return (v, body);
        }
        assert!(Instant::now() < until, "review never ended: {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let ask = || {
        let asked = post(
            &format!("/api/orgs/acme/contracts/{id}/reviews"),
            r#"{"categories":["governing-law","anti-assignment"]}"#,
        );
        assert!(asked.starts_with("HTTP/1.1 202"), "{asked}");
        asked
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .unwrap()
            .trim()
            .to_owned()
    };

    // 1. A completed review: the canary only inside the verified excerpt; the invented quote dropped.
    let (review, raw) = wait_review(&ask());
    assert_eq!(review["status"], "completed", "{raw}");
    let result = &review["result"];
    assert_eq!(result["provider"], "foundry");
    assert_eq!(result["droppedQuotes"], 1);
    assert_eq!(result["usage"]["promptTokens"], 900);
    let gl = &result["categories"][0];
    assert_eq!(gl["category"], "governing-law");
    assert_eq!(gl["excerpts"][0]["text"], governing.as_str());
    let start = gl["excerpts"][0]["start"].as_u64().unwrap() as usize;
    assert_eq!(
        contract
            .chars()
            .skip(start)
            .take(governing.chars().count())
            .collect::<String>(),
        governing
    );
    assert_eq!(
        result["categories"][1]["excerpts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let mut without_excerpts = review.clone();
    for f in without_excerpts["result"]["categories"]
        .as_array_mut()
        .unwrap()
    {
        f["excerpts"] = serde_json::Value::Null;
    }
    assert!(
        !without_excerpts.to_string().contains(CANARY),
        "the canary is outside the excerpts: {without_excerpts}"
    );

    // 2. What the model was sent: the canary in the body only; the v1 path and the
    //    key header; store off, temperature 0, a strict schema.
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (target, headers, body) = &seen[0];
        // The default route: v1, the deployment as the model, no api-version.
        assert_eq!(target, "/openai/v1/chat/completions?");
        assert!(!target.contains(CANARY));
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "api-key" && v == "stand-in-key-7d2")
        );
        assert!(headers.iter().all(|(_, v)| !v.contains(CANARY)));
        let sent: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(sent["model"], "gpt-4o");
        assert_eq!(sent["store"], false);
        assert_eq!(sent["temperature"], 0.0);
        assert_eq!(sent["response_format"]["json_schema"]["strict"], true);
        assert!(body.contains(CANARY));
    }

    // 3. A failed review: the service's error body echoes the canary; the failure does not.
    let (failed, raw) = wait_review(&ask());
    assert_eq!(failed["status"], "failed", "{raw}");
    assert!(!raw.contains(CANARY), "{raw}");

    // 4. The audit trail and the review list hold no contract text.
    let (status, trail) = get("/api/orgs/acme/audit?format=ndjson");
    assert_eq!(status, 200);
    assert!(trail.contains("review.completed") && trail.contains("review.failed"));
    assert!(!trail.contains(CANARY));
    let (_, list) = get(&format!("/api/orgs/acme/contracts/{id}/reviews"));
    assert!(!list.contains(CANARY));

    sigterm(&child);
    child.wait().unwrap();
    let out = logs.join().unwrap();
    assert!(
        out.contains("review completed"),
        "logging works at trace level"
    );
    assert!(!out.contains(CANARY), "canary leaked into logs");
    assert!(!out.contains("5e1f"), "canary words leaked into logs");
    // 5. At rest: nothing in the data directory (database with the job queue, sealed blobs, texts,
    //    reviews, index) holds the canary in plain text.
    for file in walk_files(data.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "canary in {}",
            file.display()
        );
    }
}

/// The evaluation command on CUAD dev with the offline provider (what CI runs): a JSON report with
/// every contract and category scored, a table on stdout, and honest floors below the measured
/// figures so a regression in the rules or the selection fails the build.
#[test]
fn eval_review_scores_the_offline_provider_on_cuad_dev() {
    let data = tempfile::tempdir().unwrap();
    let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cuad/dev");
    let report_path = data.path().join("review-eval.json");
    let out = command(data.path(), 0)
        .args(["eval-review", "--data"])
        .arg(&dev)
        .arg("--out")
        .arg(&report_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("| Governing Law |"), "{table}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(report["provider"], "offline");
    assert_eq!(report["dataset"], "dev");
    assert_eq!(report["contracts"], 60);
    assert_eq!(report["categories"].as_array().unwrap().len(), 41);
    assert!(report["errors"].as_array().unwrap().is_empty());
    let f1 = report["overall"]["f1"].as_f64().unwrap();
    assert!(f1 >= EVAL_F1_FLOOR, "micro-F1 {f1}");
    let m = &report["minimisation"];
    assert!(
        m["coverage"].as_f64().unwrap() >= EVAL_COVERAGE_FLOOR,
        "{m}"
    );
    assert!(m["ratioAggregate"].as_f64().unwrap() <= 0.35, "{m}");
    assert!(m["ratioMean"].as_f64().unwrap() <= 0.35, "{m}");
    // Keep a copy where CI and people can read it.
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("review-eval.json");
    std::fs::copy(&report_path, keep).unwrap();
}

/// A little under the offline provider's measured micro-F1 on CUAD dev (see the README).
const EVAL_F1_FLOOR: f64 = 0.60;
/// A little under the measured context coverage at the default budget (see the README).
const EVAL_COVERAGE_FLOOR: f64 = 0.76;
