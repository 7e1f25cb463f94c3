//! The command line: `handler` (serve, what the Functions host runs), `handler dev-token` (local
//! development tokens), `handler openapi` and `handler admin ...` (operator commands: plan changes,
//! audit evidence export and verification), `handler eval-review` (the review provider measured on
//! a CUAD-format folder).

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use clment_common::TenantScope;
use clment_common::access::Role;
use clment_common::domain::{OrgId, Region, UserId};
use clment_common::ports::{Actor, AuditEvent, AuditLog as _, OrgStore as _, Outcome, Plan};
use clment_local::{DataDir, DevIssuer, DevTokenRequest, LocalStore};

use crate::config::{Backend, Identity, Settings};
use crate::startup::Application;
use crate::telemetry;

/// The hidden subcommand the service starts extraction workers with.
pub const EXTRACT_WORKER: &str = "extract-worker";

/// Clment function bundle.
#[derive(Parser, Debug)]
#[command(
    name = "handler",
    version,
    about = "Clment function bundle: Azure Functions custom handler"
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve HTTP on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT (what the Functions host runs).
    Serve,
    /// Print a development access token the local server accepts (local backend only).
    DevToken {
        /// Organisation id (`org_id`); not with `--operator`.
        #[arg(
            long,
            required_unless_present = "operator",
            conflicts_with = "operator"
        )]
        org: Option<String>,
        /// An operator token instead (operator audience, `role` operator, `amr` pwd+mfa, no org).
        #[arg(long)]
        operator: bool,
        /// User id (`sub`).
        #[arg(long, default_value = "dev-user")]
        user: String,
        /// Role: owner, admin, member or viewer.
        #[arg(long, default_value = "member")]
        role: String,
        /// Sign-in methods (`amr`), comma-separated: pwd, mfa, otp, external.
        #[arg(long, default_value = "pwd", value_delimiter = ',')]
        amr: Vec<String>,
        /// Home region of the org (default: CLMENT_REGION).
        #[arg(long)]
        region: Option<String>,
        /// E-mail claim.
        #[arg(long)]
        email: Option<String>,
        /// Lifetime in seconds (at most 24 h).
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        ttl: u64,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Check an exported trail offline (no store, no network): the NDJSON export, the digests page(s)
    /// from `GET /api/orgs/{orgId}/audit/digests`, and the public key(s) obtained separately.
    /// Exits 1 when it does not verify.
    VerifyExport {
        /// The NDJSON export.
        #[arg(long)]
        events: std::path::PathBuf,
        /// The digests JSON (`{"digests": [...]}`), optional.
        #[arg(long)]
        digests: Option<std::path::PathBuf>,
        /// Trusted digest public key (base64url); repeat for retired keys. (A base64url key may
        /// start with `-`.)
        #[arg(long = "public-key", allow_hyphen_values = true)]
        public_keys: Vec<String>,
    },
    /// Operator commands on the local backend (run while the server is stopped: the store is single-process).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Evaluate the review provider (CLMENT_REVIEW_PROVIDER, default offline) on a folder in CUAD's
    /// format (`<slug>.txt` + `labels.jsonl`): precision, recall and F1 per category with CUAD's
    /// matching rule, and what a remote model would be sent. Writes a JSON report and prints a table.
    EvalReview {
        /// The folder (e.g. ../shared/data/cuad/dev).
        #[arg(long)]
        data: std::path::PathBuf,
        /// Where the JSON report goes.
        #[arg(long, default_value = "review-eval.json")]
        out: std::path::PathBuf,
        /// Only these categories (keys or names), comma-separated; default all 41.
        #[arg(long, value_delimiter = ',')]
        categories: Vec<String>,
        /// The share of each contract's tokens a remote provider may be sent, in percent (as
        /// CLMENT_REVIEW_CONTEXT_PERCENT): the minimisation figures are measured at it.
        #[arg(long, default_value_t = 35, value_parser = clap::value_parser!(u8).range(5..=100))]
        context_percent: u8,
    },
}

/// Operator commands.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Set an org's plan (free or paid). Audited as an operator action.
    SetPlan {
        /// Organisation id.
        #[arg(long)]
        org: String,
        /// free or paid.
        #[arg(long)]
        plan: String,
        /// Who is acting (recorded in the audit trail).
        #[arg(long, default_value = "cli")]
        operator: String,
    },
    /// Export an org's audit trail for a window (evidence for an auditor), as the API does.
    AuditExport {
        /// Organisation id.
        #[arg(long)]
        org: String,
        /// Start, RFC 3339 (inclusive); default: the beginning.
        #[arg(long)]
        from: Option<String>,
        /// End, RFC 3339 (exclusive); default: now.
        #[arg(long)]
        to: Option<String>,
        /// ndjson (verifiable) or csv.
        #[arg(long, default_value = "ndjson")]
        format: String,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Verify an org's audit chain and signed digests for a window; exits 1 when it does not verify.
    AuditVerify {
        /// Organisation id.
        #[arg(long)]
        org: String,
        /// Start, RFC 3339 (inclusive); default: the beginning.
        #[arg(long)]
        from: Option<String>,
        /// End, RFC 3339 (exclusive); default: now.
        #[arg(long)]
        to: Option<String>,
    },
}

/// A trail that does not verify: the process exits 1 (2 is for usage and configuration errors).
#[derive(Debug, thiserror::Error)]
#[error("the audit trail does not verify (see firstBadSeq above)")]
pub struct NotVerified;

fn rfc3339(name: &str, v: Option<String>) -> anyhow::Result<Option<time::OffsetDateTime>> {
    v.map(|s| {
        time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("{name}: an RFC 3339 time such as 2026-01-31T00:00:00Z"))
    })
    .transpose()
}

fn eval_review(
    data: &std::path::Path,
    out: &std::path::Path,
    categories: &[String],
    context_percent: u8,
) -> anyhow::Result<()> {
    use clment_common::review::eval::{EvalOptions, evaluate_dir};
    let settings = Settings::from_env()?;
    let provider = crate::startup::review_provider(&settings, None)?;
    let mut options = EvalOptions::default();
    options.select.max_ratio = f64::from(context_percent) / 100.0;
    if !categories.is_empty() {
        let keys = crate::reviewing::categories_for(Some(categories))
            .map_err(|bad| anyhow::anyhow!("--categories: {bad:?} is not a category"))?;
        options.categories = keys
            .iter()
            .filter_map(|k| clment_common::review::Category::find(k))
            .collect();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt
        .block_on(evaluate_dir(data, provider.as_ref(), &options))
        .with_context(|| format!("reading the dataset in {}", data.display()))?;
    std::fs::write(out, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", out.display()))?;
    println!("{}", report.to_markdown());
    eprintln!("report written to {}", out.display());
    Ok(())
}

/// Opens the local store for an operator command.
fn operator_store(settings: &Settings, what: &str) -> anyhow::Result<(LocalStore, DataDir)> {
    let Backend::Local { data_dir } = &settings.backend else {
        anyhow::bail!("admin {what} works on the local backend only");
    };
    let dir = DataDir::open(data_dir)?;
    let store = LocalStore::open(&dir)
        .context("opening the local store (stop the server using this data directory first)")?;
    Ok((store, dir))
}

fn audit_export(
    org: &str,
    from: Option<String>,
    to: Option<String>,
    format: &str,
    out: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use futures_util::StreamExt as _;
    use std::io::Write as _;
    let settings = Settings::from_env()?;
    let format = crate::routes::audit::Format::parse(Some(format))
        .context("--format must be ndjson or csv")?;
    let (from, to) = (rfc3339("--from", from)?, rfc3339("--to", to)?);
    let (store, _) = operator_store(&settings, "audit-export")?;
    let scope = TenantScope::for_operator(OrgId::parse(org).context("--org")?, settings.region);
    let mut sink: Box<dyn std::io::Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let log: std::sync::Arc<dyn clment_common::ports::AuditLog> = std::sync::Arc::new(store);
        let range = clment_common::audit::window(&*log, &scope, from, to).await?;
        let mut body = std::pin::pin!(crate::routes::audit::export_stream(
            log, scope, range, format
        ));
        while let Some(chunk) = body.next().await {
            sink.write_all(&chunk?)?;
        }
        sink.flush()?;
        anyhow::Ok(())
    })
}

/// Verifies an NDJSON export line by line (bounded memory). The first event's link is taken on trust
/// (an export window starts mid-chain); every later link, every hash, and every digest whose head
/// lies in the export are checked.
fn verify_export(
    events: &std::path::Path,
    digests: Option<&std::path::Path>,
    public_keys: &[String],
) -> anyhow::Result<clment_common::audit::Report> {
    use clment_common::audit::{Digest, DigestVerifier, Verifier};
    use std::io::BufRead as _;
    let keys = DigestVerifier::from_public_keys(public_keys.iter().map(String::as_str))
        .context("--public-key: base64url Ed25519 public keys")?;
    let digests: Vec<Digest> = match digests {
        Some(p) => {
            #[derive(serde::Deserialize)]
            struct Page {
                digests: Vec<Digest>,
            }
            let page: Page = serde_json::from_slice(
                &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .context("--digests: the JSON of GET /api/orgs/{orgId}/audit/digests")?;
            page.digests
        }
        None => Vec::new(),
    };
    if !digests.is_empty() && public_keys.is_empty() {
        anyhow::bail!("--public-key is required to check digests");
    }
    let file =
        std::fs::File::open(events).with_context(|| format!("reading {}", events.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let Some(first) = lines.next().transpose()? else {
        anyhow::bail!("{} holds no events", events.display());
    };
    let first: clment_common::ports::StoredEvent =
        serde_json::from_str(&first).context("line 1 is not an exported event")?;
    let (from, mut to) = (first.seq, first.seq);
    let mut rest = Vec::new();
    // Only digests whose heads fall inside the export can be checked against it.
    let in_view =
        |d: &Digest, to: u64| d.org_id == first.org_id && d.head_seq >= from && d.head_seq <= to;
    let mut v = Verifier::new_unanchored(first.org_id.clone(), digests.iter().map(|d| d.head_seq));
    v.push(&first);
    for (n, line) in lines.enumerate() {
        let e: clment_common::ports::StoredEvent = serde_json::from_str(&line?)
            .with_context(|| format!("line {} is not an exported event", n + 2))?;
        to = e.seq;
        if !v.push(&e) {
            break;
        }
    }
    for d in &digests {
        if in_view(d, to) {
            rest.push(d.clone());
        }
    }
    let previous = rest
        .first()
        .and_then(|f| digests.iter().find(|d| d.number + 1 == f.number))
        .cloned();
    Ok(v.finish(&rest, previous.as_ref(), &keys))
}

fn audit_verify(org: &str, from: Option<String>, to: Option<String>) -> anyhow::Result<bool> {
    let settings = Settings::from_env()?;
    let (from, to) = (rfc3339("--from", from)?, rfc3339("--to", to)?);
    let (store, dir) = operator_store(&settings, "audit-verify")?;
    let (_, keys) = crate::startup::digest_keys(&settings, Some(&dir))?;
    let scope = TenantScope::for_operator(OrgId::parse(org).context("--org")?, settings.region);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(clment_common::audit::verify(
        &store, &scope, from, to, &keys,
    ))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(report.verified)
}

/// Runs the command line.
///
/// # Errors
/// Configuration, start-up or command failures, with a message naming the cause.
pub fn run() -> anyhow::Result<()> {
    // The extraction worker: a child process of the service with its own resource limits. It starts
    // before anything else (no runtime, no logging) and speaks only its stdin/stdout protocol.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(EXTRACT_WORKER) {
        std::process::exit(clment_extract::worker_main(&args[2..]));
    }
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let settings = Settings::from_env()?;
            telemetry::init(&settings.log_filter, settings.log_format);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let app = Application::build(settings).await?;
                app.run_until_stopped().await;
                Ok(())
            })
        }
        Command::DevToken {
            org,
            operator,
            user,
            role,
            amr,
            region,
            email,
            ttl,
        } => {
            let settings = Settings::from_env()?;
            let (Backend::Local { data_dir }, Identity::DevIssuer { audience }) =
                (&settings.backend, &settings.identity)
            else {
                anyhow::bail!(
                    "the development issuer is only available with CLMENT_BACKEND=local and no CLMENT_AUTH_* settings"
                );
            };
            if operator {
                let issuer = DevIssuer::load_or_create(&DataDir::open(data_dir)?)?;
                let user = UserId::parse(&user).context("--user")?;
                println!(
                    "{}",
                    issuer.mint_operator(
                        &user,
                        email.as_deref(),
                        ttl,
                        &settings.operator_audience
                    )?
                );
                return Ok(());
            }
            let req = DevTokenRequest {
                org: OrgId::parse(org.as_deref().unwrap_or_default()).context("--org")?,
                user: UserId::parse(&user).context("--user")?,
                role: role.parse::<Role>().context("--role")?,
                amr,
                region: match region {
                    Some(r) => r.parse::<Region>().context("--region")?,
                    None => settings.region,
                },
                email,
                ttl_secs: ttl,
            };
            let issuer = DevIssuer::load_or_create(&DataDir::open(data_dir)?)?;
            println!("{}", issuer.mint(&req, audience)?);
            Ok(())
        }
        Command::Admin(AdminCommand::SetPlan {
            org,
            plan,
            operator,
        }) => {
            let settings = Settings::from_env()?;
            let plan = match plan.as_str() {
                "free" => Plan::Free,
                "paid" => Plan::Paid,
                other => anyhow::bail!("--plan must be free or paid, got {other:?}"),
            };
            let org = OrgId::parse(&org).context("--org")?;
            let (store, _) = operator_store(&settings, "set-plan")?;
            let scope = TenantScope::for_operator(org, settings.region);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let now = time::OffsetDateTime::now_utc();
                store.get_or_create(&scope, now).await?;
                let (before, after) = store.set_plan(&scope, plan, now).await?;
                let event = AuditEvent {
                    action: "org.plan_changed".into(),
                    actor: Actor::operator(&operator),
                    resource_type: "org".into(),
                    resource_id: scope.org().as_str().to_owned(),
                    contract_id: None,
                    outcome: Outcome::Success,
                    reason: None,
                    details: serde_json::json!({ "before": before.plan, "after": after.plan }),
                    request_id: Some(format!("cli-{}", uuid::Uuid::new_v4().simple())),
                    client: clment_common::ports::Client::default(),
                };
                if let Err(e) = store.append(&scope, event, now).await {
                    store.set_plan(&scope, before.plan, now).await?;
                    anyhow::bail!("could not audit the change, so it was undone: {e}");
                }
                println!(
                    "{}: plan {:?} -> {:?}",
                    scope.org(),
                    before.plan,
                    after.plan
                );
                Ok(())
            })
        }
        Command::Admin(AdminCommand::AuditExport {
            org,
            from,
            to,
            format,
            out,
        }) => audit_export(&org, from, to, &format, out.as_deref()),
        Command::Admin(AdminCommand::AuditVerify { org, from, to }) => {
            if audit_verify(&org, from, to)? {
                Ok(())
            } else {
                Err(NotVerified.into())
            }
        }
        Command::VerifyExport {
            events,
            digests,
            public_keys,
        } => {
            let report = verify_export(&events, digests.as_deref(), &public_keys)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if report.verified {
                Ok(())
            } else {
                Err(NotVerified.into())
            }
        }
        Command::EvalReview {
            data,
            out,
            categories,
            context_percent,
        } => eval_review(&data, &out, &categories, context_percent),
        Command::Openapi => {
            println!(
                "{}",
                String::from_utf8_lossy(&crate::routes::openapi::render())
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::{Cli, Command};

    #[test]
    fn a_public_key_that_starts_with_a_dash_is_a_value() {
        let cli = Cli::try_parse_from([
            "handler",
            "verify-export",
            "--events",
            "a.ndjson",
            "--public-key",
            "-Xk9_a",
            "--public-key",
            "abc",
        ])
        .expect("parses");
        match cli.command {
            Some(Command::VerifyExport { public_keys, .. }) => {
                assert_eq!(public_keys, ["-Xk9_a", "abc"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_evaluation_budget_is_a_bounded_percent() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["handler", "eval-review", "--data", "dev"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args).map(|cli| match cli.command {
                Some(Command::EvalReview {
                    context_percent, ..
                }) => context_percent,
                other => panic!("{other:?}"),
            })
        };
        assert_eq!(parse(&[]).unwrap(), 35);
        assert_eq!(parse(&["--context-percent", "45"]).unwrap(), 45);
        for bad in ["4", "101", "45.5"] {
            assert!(parse(&["--context-percent", bad]).is_err(), "{bad}");
        }
    }
}
