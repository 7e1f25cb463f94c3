//! The worker side: limit this process, read the document from stdin, extract it on a thread with
//! a large stack, write one JSON line to stdout.

use std::io::{BufWriter, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use clment_common::content::ContentKind;
use clment_common::ports::{ExtractError, ExtractFailureCode, Extracted};
use rlimit::Resource;
use serde::{Deserialize, Serialize};

use crate::limits::BadArgument;
use crate::{Limits, extract, failed};

/// Exit code of a worker whose arguments were bad (the caller's bug; the parent reports the
/// extractor unavailable rather than blaming the document).
pub const EXIT_USAGE: i32 = 64;
/// Exit code of a worker that could not set itself up (resource limits, extraction thread,
/// stdout); the parent reports the extractor unavailable.
pub const EXIT_SETUP: i32 = 71;

/// The worker's one line of output.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Reply {
    /// `{"ok":{"text":"...","pages":[0,...]}}`
    Ok(Extracted),
    /// `{"err":{"code":"encrypted","detail":"..."}}`
    Err(Failure),
}

/// A failure as the worker reports it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Failure {
    pub(crate) code: ExtractFailureCode,
    pub(crate) detail: String,
}

impl From<Result<Extracted, ExtractError>> for Reply {
    fn from(result: Result<Extracted, ExtractError>) -> Self {
        match result {
            Ok(extracted) => Self::Ok(extracted),
            Err(ExtractError::Failed { code, detail }) => Self::Err(Failure { code, detail }),
            // `extract` never returns it; report it as unreadable rather than lose it.
            Err(ExtractError::Unavailable(detail)) => Self::Err(Failure {
                code: ExtractFailureCode::Unreadable,
                detail,
            }),
        }
    }
}

/// The kind's worker-flag spelling.
pub(crate) fn kind_arg(kind: ContentKind) -> &'static str {
    kind.extension()
}

fn parse_kind(value: &str) -> Option<ContentKind> {
    ContentKind::ALL
        .into_iter()
        .find(|k| k.extension() == value)
}

/// The worker's settings from its flags.
fn parse_args(args: &[String]) -> Result<(ContentKind, Limits), BadArgument> {
    let mut kind = None;
    let mut limits = Limits::default();
    for arg in args {
        // The program name and a subcommand may come along; only flags count.
        let Some(flag) = arg.strip_prefix("--") else {
            continue;
        };
        let (name, value) = flag
            .split_once('=')
            .ok_or_else(|| BadArgument(arg.clone()))?;
        if name == "kind" {
            kind = Some(parse_kind(value).ok_or_else(|| BadArgument(arg.clone()))?);
        } else if !limits.parse_flag(name, value)? {
            return Err(BadArgument(format!("--{name}")));
        }
    }
    let kind = kind.ok_or_else(|| BadArgument("--kind is required".into()))?;
    Ok((kind, limits))
}

/// Lowers a limit of this process to `value` (never above the current hard limit, which an
/// unprivileged process cannot raise). `hard_slack` is added to the hard limit.
fn lower(resource: Resource, value: u64, hard_slack: u64) -> std::io::Result<()> {
    let (_, hard) = resource.get()?;
    let soft = value.min(hard);
    let new_hard = value.saturating_add(hard_slack).min(hard);
    resource.set(soft, new_hard)
}

/// Applies the process limits: address space, CPU time (`SIGXCPU` at the limit, `SIGKILL` a
/// second later), no core dumps, no file writes (pipes are not files), few open files.
fn apply_rlimits(limits: &Limits) -> std::io::Result<()> {
    lower(Resource::CORE, 0, 0)?;
    lower(Resource::FSIZE, 0, 0)?;
    lower(Resource::NOFILE, limits.open_files, 0)?;
    lower(Resource::CPU, limits.cpu_seconds, 1)?;
    lower(Resource::AS, limits.memory, 0)?;
    Ok(())
}

/// Reads the document and extracts it. `Err` only when the worker itself cannot run.
fn run(kind: ContentKind, limits: Limits) -> Result<Reply, std::io::Error> {
    let mut bytes = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(limits.max_input.saturating_add(1))
        .read_to_end(&mut bytes);
    if read.is_err() {
        return Ok(Reply::from(Err(failed(
            ExtractFailureCode::Unreadable,
            "the document could not be read from the parent",
        ))));
    }
    if bytes.len() as u64 > limits.max_input {
        return Ok(Reply::from(Err(failed(
            ExtractFailureCode::TooLarge,
            format!("the document is larger than {} bytes", limits.max_input),
        ))));
    }
    let worker = std::thread::Builder::new()
        .name("extract".into())
        .stack_size(limits.effective_stack())
        .spawn(move || catch_unwind(AssertUnwindSafe(|| extract(kind, bytes, &limits))))?;
    let result = match worker.join() {
        Ok(Ok(result)) => result,
        Ok(Err(_)) | Err(_) => Err(failed(
            ExtractFailureCode::Unreadable,
            "the document crashed the extractor (panic)",
        )),
    };
    Ok(Reply::from(result))
}

/// The worker mode's entry point; returns the process exit code.
///
/// `args` carry `--kind=pdf|docx|txt` and the [`Limits`] as `--name=value` flags
/// ([`Limits::to_args`]); anything not starting with `--` (the program name, a subcommand) is
/// ignored, so the caller may pass its whole command line.
///
/// In order: a silent panic hook (panic messages may quote the document); the resource limits
/// (`RLIMIT_AS`, `RLIMIT_CPU`, `RLIMIT_CORE` = 0, `RLIMIT_FSIZE` = 0, `RLIMIT_NOFILE`); the document
/// from stdin, up to [`Limits::max_input`]; extraction on a thread with a
/// [`Limits::effective_stack`] stack inside `catch_unwind`; then one JSON line on stdout,
/// `{"ok":{"text":...,"pages":[...]}}` or `{"err":{"code":"...","detail":"..."}}`.
///
/// Exit codes: 0 with a reply line (success or a document failure); [`EXIT_USAGE`] for bad
/// arguments; [`EXIT_SETUP`] when the limits, the thread or stdout fail. A crash the process
/// cannot catch (stack overflow, failed allocation, CPU limit) ends it by a signal, which the
/// parent maps.
#[must_use]
pub fn worker_main(args: &[String]) -> i32 {
    std::panic::set_hook(Box::new(|_| {}));
    let (kind, limits) = match parse_args(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("clment extract worker: {e}");
            return EXIT_USAGE;
        }
    };
    if let Err(e) = apply_rlimits(&limits) {
        eprintln!("clment extract worker: cannot set resource limits: {e}");
        return EXIT_SETUP;
    }
    let reply = match run(kind, limits) {
        Ok(reply) => reply,
        Err(e) => {
            eprintln!("clment extract worker: cannot start the extraction thread: {e}");
            return EXIT_SETUP;
        }
    };
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = serde_json::to_writer(&mut out, &reply)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if written.is_err() {
        return EXIT_SETUP;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments() {
        let (kind, limits) = parse_args(&args(&[
            "handler",
            "extract-worker",
            "--kind=docx",
            "--max-pages=5",
        ]))
        .unwrap();
        assert_eq!(kind, ContentKind::Docx);
        assert_eq!(limits.max_pages, 5);
        let mut all = vec!["--kind=txt".to_owned()];
        all.extend(Limits::default().to_args());
        assert_eq!(
            parse_args(&all).unwrap(),
            (ContentKind::Text, Limits::default())
        );
        for bad in [
            &["--max-pages=5"][..],
            &["--kind=doc"],
            &["--kind=pdf", "--nope=1"],
            &["--kind=pdf", "--max-pages"],
            &["--kind=pdf", "--memory=lots"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn replies_are_one_json_object() {
        let ok = Reply::from(Ok(Extracted {
            text: "a\u{c}b".into(),
            pages: vec![0, 2],
        }));
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"ok":{"text":"a\fb","pages":[0,2]}}"#
        );
        let err = Reply::from(Err(failed(ExtractFailureCode::NoText, "scan")));
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"err":{"code":"no_text","detail":"scan"}}"#
        );
        assert!(matches!(
            serde_json::from_str::<Reply>(r#"{"err":{"code":"too_large","detail":"x"}}"#),
            Ok(Reply::Err(Failure {
                code: ExtractFailureCode::TooLarge,
                ..
            }))
        ));
    }
}
