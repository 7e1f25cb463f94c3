//! Structured logs: one JSON object per line on stdout (the Functions host captures the worker's
//! console). Request logs carry the request id, org, route, status and latency; bodies are never
//! logged at any level.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// Installs the global subscriber. Safe to call more than once (later calls are ignored).
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // HTTP and TLS internals log raw headers and bytes at debug/trace: cap them whatever the filter says.
    let filter = ["hyper", "hyper_util", "h2", "reqwest", "rustls", "warp"]
        .iter()
        .fold(filter, |f, target| match format!("{target}=info").parse() {
            Ok(d) => f.add_directive(d),
            Err(_) => f,
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_writer(std::io::stdout);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
