//! Azurite (Microsoft's Azure Storage emulator, from npm) for the Blob Storage and Queue Storage
//! tests: one emulator per service and test binary on a free loopback port, in memory, signed for with
//! the emulator's shared key.
//!
//! The emulator runs under a small `sh` watchdog that reads the test process's pipe: when the
//! test binary exits for any reason (even a panic or a kill), the pipe closes and the watchdog
//! stops Azurite, so no emulator is left behind. [`Azurite`]'s `Drop` closes the pipe too.

// Shared by several test binaries, each of which uses only part of it.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_core::credentials::Secret;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{ClientOptions, Context, Request};

/// The emulator's account and its well-known key (published by Microsoft for Azurite; not a secret).
pub const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// An Azurite service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// `azurite-blob`.
    Blob,
    /// `azurite-queue`.
    Queue,
}

impl Service {
    fn bin_name(self) -> &'static str {
        match self {
            Self::Blob => "azurite-blob",
            Self::Queue => "azurite-queue",
        }
    }

    fn listen_flags(self) -> [&'static str; 2] {
        match self {
            Self::Blob => ["--blobHost", "--blobPort"],
            Self::Queue => ["--queueHost", "--queuePort"],
        }
    }
}

/// A running Azurite service (blob or queue).
pub struct Azurite {
    child: Child,
    watchdog: Option<ChildStdin>,
    port: u16,
    https: bool,
    _dir: tempfile::TempDir,
}

/// How an Azurite service is reached.
enum Mode<'a> {
    /// Plain HTTP, requests signed with the shared key ([`Azurite::client_options`]).
    SharedKey,
    /// HTTPS with this certificate and key (PEM files), Entra ID bearer tokens checked by Azurite's
    /// `--oauth basic` (claims, not signatures).
    OAuth { cert: &'a Path, key: &'a Path },
}

impl Azurite {
    /// The service URL (`http(s)://127.0.0.1:<port>/devstoreaccount1`, no trailing slash).
    pub fn service_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// Client options that sign every request with the emulator's shared key.
    pub fn client_options() -> ClientOptions {
        let mut options = ClientOptions::default();
        options.per_try_policies.push(Arc::new(SharedKeyPolicy));
        // Fail fast: Azurite is local, retries only slow a failing test down.
        options.retry = azure_core::http::RetryOptions::none();
        options
    }

    /// The port the service listens on (loopback).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts a service of its own over HTTPS with `cert` and `key` (PEM files; the certificate must
    /// name 127.0.0.1) that accepts Entra ID bearer tokens (`--oauth basic`), the way production signs
    /// in. Stopped when dropped.
    pub fn start_oauth(service: Service, cert: &Path, key: &Path) -> Self {
        Self::start_in(service, &Mode::OAuth { cert, key })
    }

    fn start(service: Service) -> Self {
        Self::start_in(service, &Mode::SharedKey)
    }

    fn start_in(service: Service, mode: &Mode<'_>) -> Self {
        let bin = azurite_bin(service);
        let dir = tempfile::tempdir().expect("temp dir for Azurite's log");
        let log = dir.path().join("azurite.log");
        let deadline = Instant::now() + Duration::from_secs(20);
        // `sh` starts Azurite, then waits on our pipe; EOF (this process gone) stops Azurite.
        let script = r#"bin="$1"; shift
"$bin" "$@" & pid=$!
exec 3<&0
( read -r _ <&3; kill "$pid" 2>/dev/null ) &
wait "$pid""#;
        for attempt in 1.. {
            let port = free_port();
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(script)
                .arg("sh")
                .arg(&bin)
                .arg(service.listen_flags()[0])
                .arg("127.0.0.1")
                .arg(service.listen_flags()[1])
                .arg(port.to_string())
                .args([
                    "--inMemoryPersistence",
                    "--disableTelemetry",
                    "--silent",
                    "--loose",
                ]);
            if let Mode::OAuth { cert, key } = mode {
                command
                    .arg("--cert")
                    .arg(cert)
                    .arg("--key")
                    .arg(key)
                    .args(["--oauth", "basic"]);
            }
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("Azurite log file"))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start Azurite ({}): {e}", bin.display()));
            let watchdog = child.stdin.take();
            let https = matches!(mode, Mode::OAuth { .. });
            loop {
                // Over HTTPS a plain-text probe gets no answer: an open port is enough there (the
                // tests then retry their first call briefly).
                let ready = if https {
                    TcpStream::connect(("127.0.0.1", port)).is_ok()
                } else {
                    answers(port)
                };
                if ready {
                    return Self {
                        child,
                        watchdog,
                        port,
                        https,
                        _dir: dir,
                    };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    let out = std::fs::read_to_string(&log).unwrap_or_default();
                    // Another process may have taken the port in between: retry on a new one.
                    assert!(
                        attempt < 3 && Instant::now() < deadline,
                        "Azurite exited ({status}) before answering on port {port}:\n{out}"
                    );
                    break;
                }
                if Instant::now() >= deadline {
                    drop(watchdog);
                    let _ = child.wait();
                    panic!("Azurite did not answer on port {port} within 20 s");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        unreachable!()
    }

    /// The blob service shared by this test binary, started on first use.
    pub fn shared() -> &'static Self {
        static AZURITE: OnceLock<Azurite> = OnceLock::new();
        AZURITE.get_or_init(|| Self::start(Service::Blob))
    }

    /// The queue service shared by this test binary, started on first use.
    pub fn shared_queue() -> &'static Self {
        static AZURITE: OnceLock<Azurite> = OnceLock::new();
        AZURITE.get_or_init(|| Self::start(Service::Queue))
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        // Closing the pipe makes the watchdog stop Azurite; then reap the shell.
        drop(self.watchdog.take());
        let _ = self.child.wait();
    }
}

/// The service's executable: `CLMENT_AZURITE_BIN` (the blob one, as `scripts/test` sets it) or its
/// `azurite-queue` sibling, else `<repo>/node_modules/.bin/<name>`; fails the test otherwise.
fn azurite_bin(service: Service) -> PathBuf {
    if let Some(bin) = std::env::var_os("CLMENT_AZURITE_BIN") {
        let bin = PathBuf::from(bin).with_file_name(service.bin_name());
        assert!(
            bin.is_file(),
            "{} (next to CLMENT_AZURITE_BIN) does not exist: run scripts/test (it installs Azurite 3.37 from npm)",
            bin.display()
        );
        return bin;
    }
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../node_modules/.bin")
        .join(service.bin_name());
    assert!(
        bin.is_file(),
        "Azurite is not installed (no CLMENT_AZURITE_BIN and no {}): run scripts/test, which installs \
         it with `npm ci` and sets CLMENT_AZURITE_BIN; these tests need the real emulator",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

/// Whether the service answers HTTP on `port` (any status: 403 without a signature is fine).
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!(
        "GET /{ACCOUNT}?comp=list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 ")
}

/// Signs requests with the account's shared key (Azure Storage "SharedKey" scheme). Test only:
/// production signs in with Entra ID tokens.
#[derive(Debug)]
struct SharedKeyPolicy;

// The trait's own signature elides `Context`'s lifetime; spelling it out does not match it.
#[allow(elided_lifetimes_in_paths)]
#[async_trait]
impl Policy for SharedKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let now = azure_core::time::to_rfc7231(&azure_core::time::OffsetDateTime::now_utc());
        request.insert_header("x-ms-date", now);
        let string_to_sign = string_to_sign(request);
        let signature =
            azure_core::hmac::hmac_sha256(&string_to_sign, &Secret::new(ACCOUNT_KEY.to_owned()))?;
        request.insert_header("authorization", format!("SharedKey {ACCOUNT}:{signature}"));
        next[0].send(ctx, request, &next[1..]).await
    }
}

fn string_to_sign(request: &Request) -> String {
    let h = request.headers();
    let get = |name: &'static str| {
        h.get_optional_str(&azure_core::http::headers::HeaderName::from_static(name))
            .unwrap_or("")
            .to_owned()
    };
    let length = match request.body().len() {
        Some(0) | None => String::new(),
        Some(n) => n.to_string(),
    };
    let mut ms: Vec<(String, String)> = h
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-ms-"))
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.as_str().trim().to_owned(),
            )
        })
        .collect();
    ms.sort();
    let mut out = format!(
        "{}\n{}\n{}\n{}\n{}\n{}\n\n{}\n{}\n{}\n{}\n{}\n",
        request.method().as_ref(),
        get("content-encoding"),
        get("content-language"),
        length,
        get("content-md5"),
        get("content-type"),
        get("if-modified-since"),
        get("if-match"),
        get("if-none-match"),
        get("if-unmodified-since"),
        get("range"),
    );
    for (k, v) in ms {
        out.push_str(&format!("{k}:{v}\n"));
    }
    let url = request.url();
    out.push_str(&format!("/{ACCOUNT}{}", url.path()));
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect();
    params.sort();
    let mut i = 0;
    while i < params.len() {
        let key = params[i].0.clone();
        let mut values = Vec::new();
        while i < params.len() && params[i].0 == key {
            values.push(params[i].1.clone());
            i += 1;
        }
        out.push_str(&format!("\n{key}:{}", values.join(",")));
    }
    out
}
