//! The parent side: one worker process per document, with a wall-clock kill, a capped stdout and a
//! cap on concurrent workers.

use std::os::unix::process::ExitStatusExt as _;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clment_common::content::ContentKind;
use clment_common::ports::{ExtractError, ExtractFailureCode, Extracted, Extractor};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;
use tokio::sync::Semaphore;

use crate::worker::{EXIT_SETUP, EXIT_USAGE, Reply, kind_arg};
use crate::{Limits, failed};

/// How to start workers and what they may use.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The executable that runs [`crate::worker_main`]; in production the handler itself
    /// (`std::env::current_exe()`).
    pub program: PathBuf,
    /// Arguments before the worker flags, e.g. `["extract-worker"]` for a subcommand.
    pub args: Vec<String>,
    /// The limits, passed to the worker.
    pub limits: Limits,
    /// Wall-clock limit per document, from spawn to exit; the worker is killed after it.
    pub wall_time: Duration,
    /// Workers that may run at once; further documents wait their turn (at least 1).
    pub max_concurrent: usize,
}

impl SandboxConfig {
    /// Defaults: no argument prefix, [`Limits::default`], 60 s wall time, 2 concurrent workers.
    #[must_use]
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            limits: Limits::default(),
            wall_time: Duration::from_secs(60),
            max_concurrent: 2,
        }
    }
}

/// Runs each extraction in a fresh, resource-limited worker process. See the crate docs for the
/// protocol and [`Sandbox::extract`](Extractor::extract) for the outcome mapping.
#[derive(Debug)]
pub struct Sandbox {
    config: SandboxConfig,
    permits: Arc<Semaphore>,
}

impl Sandbox {
    /// A sandbox that starts workers as `config` says.
    #[must_use]
    pub fn new(config: SandboxConfig) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
        Self { config, permits }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    async fn run(&self, kind: ContentKind, bytes: Vec<u8>) -> Result<Extracted, ExtractError> {
        let limits = &self.config.limits;
        let mut child = Command::new(&self.config.program)
            .args(&self.config.args)
            .arg(format!("--kind={}", kind_arg(kind)))
            .args(limits.to_args())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                ExtractError::Unavailable(format!("could not start an extraction worker: {e}"))
            })?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(ExtractError::Unavailable(
                "the extraction worker has no pipes".into(),
            ));
        };
        let cap = limits.max_output();

        // Write and read at once, so that neither side blocks on a full pipe.
        let exchange = async {
            let write = async move {
                // A worker that exits early closes the pipe; its exit status tells why.
                let _ = stdin.write_all(&bytes).await;
                let _ = stdin.shutdown().await;
                drop(stdin);
            };
            let read = async move {
                let mut out = Vec::new();
                let read = stdout
                    .take(cap.saturating_add(1))
                    .read_to_end(&mut out)
                    .await;
                read.map(|_| out)
            };
            let ((), out) = tokio::join!(write, read);
            match out {
                Ok(out) if out.len() as u64 > cap => Exchange::Overflow,
                Ok(out) => match child.wait().await {
                    Ok(status) => Exchange::Exited(status, out),
                    Err(e) => Exchange::Lost(e),
                },
                Err(e) => Exchange::Lost(e),
            }
        };
        let outcome = tokio::time::timeout(self.config.wall_time, exchange).await;
        match outcome {
            Ok(Exchange::Exited(status, out)) => interpret(status, &out, limits),
            Ok(Exchange::Overflow) => {
                kill(&mut child).await;
                Err(failed(
                    ExtractFailureCode::TooLarge,
                    format!(
                        "the extracted text is longer than {} characters",
                        limits.max_chars
                    ),
                ))
            }
            Ok(Exchange::Lost(e)) => {
                kill(&mut child).await;
                Err(ExtractError::Unavailable(format!(
                    "lost the extraction worker: {e}"
                )))
            }
            Err(_elapsed) => {
                kill(&mut child).await;
                tracing::warn!(
                    wall_time_secs = self.config.wall_time.as_secs_f64(),
                    "extraction worker killed at the wall-time limit"
                );
                Err(failed(
                    ExtractFailureCode::Timeout,
                    format!(
                        "extraction took longer than {} s",
                        self.config.wall_time.as_secs_f64()
                    ),
                ))
            }
        }
    }
}

enum Exchange {
    Exited(ExitStatus, Vec<u8>),
    Overflow,
    Lost(std::io::Error),
}

async fn kill(child: &mut tokio::process::Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// What a finished worker's status and output mean.
///
/// - exit 0 with a valid reply line: that reply;
/// - exit 0 without one, or with an invalid one: `unreadable`;
/// - `SIGXCPU` (the CPU-time limit) or `SIGKILL` not sent by us (the hard CPU limit a second
///   later): `timeout`;
/// - any other signal (`SIGABRT` from a failed allocation or a stack overflow, `SIGSEGV`,
///   `SIGBUS`, ...), exit 101 (an uncaught panic) or any other non-zero exit: `unreadable`,
///   "the document crashed the extractor (signal 6)";
/// - [`EXIT_USAGE`] or [`EXIT_SETUP`]: [`ExtractError::Unavailable`] (our fault, not the
///   document's).
fn interpret(status: ExitStatus, out: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    if let Some(signal) = status.signal() {
        tracing::warn!(signal, "extraction worker ended by a signal");
        return Err(match signal {
            libc::SIGXCPU | libc::SIGKILL => failed(
                ExtractFailureCode::Timeout,
                format!(
                    "extraction used more than its {} s of CPU time (signal {signal})",
                    limits.cpu_seconds
                ),
            ),
            _ => failed(
                ExtractFailureCode::Unreadable,
                format!("the document crashed the extractor (signal {signal})"),
            ),
        });
    }
    match status.code() {
        Some(0) => {}
        Some(code @ (EXIT_USAGE | EXIT_SETUP)) => {
            return Err(ExtractError::Unavailable(format!(
                "the extraction worker could not start (exit {code})"
            )));
        }
        Some(code) => {
            tracing::warn!(code, "extraction worker failed");
            return Err(failed(
                ExtractFailureCode::Unreadable,
                format!("the document crashed the extractor (exit {code})"),
            ));
        }
        None => {
            return Err(failed(
                ExtractFailureCode::Unreadable,
                "the extractor ended without an exit status",
            ));
        }
    }
    let garbled = || {
        failed(
            ExtractFailureCode::Unreadable,
            "the extractor's reply was not readable",
        )
    };
    // The reply is the last line; anything a library printed before it is ignored.
    let line = out
        .split(|&b| b == b'\n')
        .rfind(|l| !l.iter().all(u8::is_ascii_whitespace))
        .ok_or_else(garbled)?;
    match serde_json::from_slice::<Reply>(line).map_err(|_| garbled())? {
        Reply::Ok(extracted) if plausible(&extracted, limits) => Ok(extracted),
        Reply::Ok(_) => Err(garbled()),
        Reply::Err(f) => Err(failed(f.code, f.detail)),
    }
}

/// Page offsets start at 0, never decrease and stay within the text; the text is within limits.
fn plausible(x: &Extracted, limits: &Limits) -> bool {
    let chars = x.text.chars().count() as u64;
    chars <= limits.max_chars
        && x.pages.first() == Some(&0)
        && x.pages.windows(2).all(|w| w[0] <= w[1])
        && x.pages.last().is_some_and(|&last| last <= chars)
}

#[async_trait]
impl Extractor for Sandbox {
    /// Extracts in a fresh worker process, waiting for a free slot first.
    ///
    /// Input over [`Limits::max_input`] is `too_large` without starting a worker; output over
    /// [`Limits::max_output`] bytes is `too_large`; a worker still running at
    /// [`SandboxConfig::wall_time`] is killed (`timeout`). See `interpret` for exit statuses. A
    /// worker that cannot be started is [`ExtractError::Unavailable`].
    async fn extract(&self, kind: ContentKind, bytes: Vec<u8>) -> Result<Extracted, ExtractError> {
        let limits = &self.config.limits;
        if bytes.len() as u64 > limits.max_input {
            return Err(failed(
                ExtractFailureCode::TooLarge,
                format!("the document is larger than {} bytes", limits.max_input),
            ));
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ExtractError::Unavailable("the extractor is shutting down".into()))?;
        self.run(kind, bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn signalled(signal: i32) -> ExitStatus {
        ExitStatus::from_raw(signal)
    }

    fn code_of(r: Result<Extracted, ExtractError>) -> ExtractFailureCode {
        match r {
            Err(ExtractError::Failed { code, .. }) => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statuses_map_to_outcomes() {
        let l = Limits::default();
        let ok = br#"{"ok":{"text":"abc","pages":[0]}}"#;
        assert_eq!(interpret(exited(0), ok, &l).unwrap().text, "abc");
        let noisy = b"warning: something\n{\"ok\":{\"text\":\"abc\",\"pages\":[0]}}\n\n";
        assert!(interpret(exited(0), noisy, &l).is_ok());
        let err = br#"{"err":{"code":"encrypted","detail":"password"}}"#;
        assert_eq!(
            code_of(interpret(exited(0), err, &l)),
            ExtractFailureCode::Encrypted
        );
        for garbage in [&b""[..], b"{", br#"{"ok":{"text":"abc","pages":[1]}}"#] {
            assert_eq!(
                code_of(interpret(exited(0), garbage, &l)),
                ExtractFailureCode::Unreadable
            );
        }
        assert_eq!(
            code_of(interpret(signalled(libc::SIGXCPU), b"", &l)),
            ExtractFailureCode::Timeout
        );
        assert_eq!(
            code_of(interpret(signalled(libc::SIGKILL), b"", &l)),
            ExtractFailureCode::Timeout
        );
        for signal in [libc::SIGABRT, libc::SIGSEGV, libc::SIGBUS] {
            let r = interpret(signalled(signal), ok, &l);
            assert!(
                r.as_ref()
                    .unwrap_err()
                    .to_string()
                    .contains(&format!("crashed the extractor (signal {signal})")),
                "{r:?}"
            );
        }
        assert_eq!(
            code_of(interpret(exited(101), ok, &l)),
            ExtractFailureCode::Unreadable
        );
        assert_eq!(
            code_of(interpret(exited(1), ok, &l)),
            ExtractFailureCode::Unreadable
        );
        for code in [EXIT_USAGE, EXIT_SETUP] {
            assert!(matches!(
                interpret(exited(code), b"", &l),
                Err(ExtractError::Unavailable(_))
            ));
        }
    }

    #[test]
    fn replies_are_checked() {
        let l = Limits {
            max_chars: 2,
            ..Limits::default()
        };
        assert!(!plausible(
            &Extracted {
                text: "abc".into(),
                pages: vec![0]
            },
            &l
        ));
        let l = Limits::default();
        assert!(!plausible(
            &Extracted {
                text: "abc".into(),
                pages: vec![0, 2, 1]
            },
            &l
        ));
        assert!(plausible(
            &Extracted {
                text: "a\u{c}".into(),
                pages: vec![0, 2]
            },
            &l
        ));
    }
}
