//! The Functions app layout: host.json, one folder per function, and agreement with the route and
//! trigger tables, so every routed path is reachable through the host and forwarded unchanged.

use std::path::{Path, PathBuf};

use clment_handler::http::routes::ROUTES;
use clment_handler::triggers::{TRIGGERS, TriggerKind};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn functions() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("functions")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((name, read(&entry.path().join("function.json"))));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn host_json_runs_the_custom_handler_with_forwarding() {
    let host = read(&root().join("host.json"));
    assert_eq!(host["version"], "2.0");
    assert_eq!(
        host["customHandler"]["description"]["defaultExecutablePath"],
        "handler"
    );
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], true);
    assert_eq!(host["extensions"]["http"]["routePrefix"], "api");
    assert_eq!(host["extensionBundle"]["version"], "[4.0.0, 5.0.0)");
    assert!(host["functionTimeout"].is_string());
}

/// ASP.NET-style template match: literals, `{param}` and a trailing `{*catchall}`.
fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    for (i, seg) in t.iter().enumerate() {
        if seg.starts_with("{*") {
            return true;
        }
        let Some(ps) = p.get(i) else { return false };
        let is_param = seg.starts_with('{');
        if (is_param && ps.is_empty()) || (!is_param && ps != seg) {
            return false;
        }
    }
    p.len() == t.len()
}

#[test]
fn every_route_is_forwarded_by_exactly_one_http_function() {
    let http: Vec<(String, String, Vec<String>)> = functions()
        .into_iter()
        .filter_map(|(name, f)| {
            let bindings = f["bindings"].as_array().unwrap().clone();
            let trigger = bindings
                .iter()
                .find(|b| b["type"] == "httpTrigger")?
                .clone();
            // Forwarding requires exactly one httpTrigger in and one http out, nothing else.
            assert_eq!(bindings.len(), 2, "{name}: extra bindings stop forwarding");
            assert_eq!(trigger["direction"], "in");
            assert!(
                bindings
                    .iter()
                    .any(|b| b["type"] == "http" && b["direction"] == "out"),
                "{name}"
            );
            assert_eq!(
                trigger["authLevel"], "anonymous",
                "{name}: the bundle authenticates itself"
            );
            let methods = trigger["methods"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_owned())
                .collect();
            Some((name, trigger["route"].as_str().unwrap().to_owned(), methods))
        })
        .collect();
    for r in ROUTES {
        let path = r
            .path
            .strip_prefix("/api/")
            .unwrap()
            .replace("{orgId}", "acme")
            .replace("{contractId}", "c1");
        let serving: Vec<_> = http
            .iter()
            .filter(|(_, route, methods)| {
                template_matches(route, &path)
                    && methods
                        .iter()
                        .any(|m| m.eq_ignore_ascii_case(r.method.as_str()))
            })
            .map(|(n, ..)| n.clone())
            .collect();
        assert_eq!(
            serving.len(),
            1,
            "{} {} is served by {serving:?}",
            r.method,
            r.path
        );
    }
}

#[test]
fn every_trigger_has_its_function_and_every_function_is_known() {
    let fns = functions();
    for t in TRIGGERS {
        let (_, f) = fns
            .iter()
            .find(|(n, _)| n == t.name)
            .unwrap_or_else(|| panic!("no functions/{}", t.name));
        let b = &f["bindings"][0];
        match t.kind {
            TriggerKind::Blob => {
                assert_eq!(b["type"], "blobTrigger");
                assert_eq!(b["source"], "EventGrid");
                assert_eq!(b["name"], "blob");
                assert_eq!(b["path"], "contracts/{name}");
            }
            TriggerKind::Queue => {
                assert_eq!(b["type"], "queueTrigger");
                assert_eq!(b["direction"], "in");
                assert_eq!(b["name"], clment_handler::triggers::run_job::BINDING);
                // The queue `clment_azure::queue::DEFAULT_QUEUE` sends to.
                assert_eq!(b["queueName"], "clment-jobs");
                assert_eq!(b["connection"], "ContractsStorage");
                // The trigger gives a job up on its last delivery: host.json must agree on which that is.
                let host = read(&root().join("host.json"));
                // A review's longest model call, plus a minute for the rest, fits in one invocation.
                let limit: Vec<u64> = host["functionTimeout"]
                    .as_str()
                    .unwrap()
                    .split(':')
                    .map(|p| p.parse().unwrap())
                    .collect();
                let limit_secs = limit[0] * 3600 + limit[1] * 60 + limit[2];
                assert!(
                    clment_handler::config::MAX_FOUNDRY_TIMEOUT_SECS + 60 <= limit_secs,
                    "functionTimeout {limit_secs} s"
                );
                assert_eq!(
                    host["extensions"]["queues"]["maxDequeueCount"],
                    clment_handler::triggers::run_job::MAX_DEQUEUE
                );
            }
            TriggerKind::Timer => {
                assert_eq!(b["type"], "timerTrigger", "{}", t.name);
                assert_eq!(b["direction"], "in", "{}", t.name);
                assert_eq!(b["name"], "timer", "{}", t.name);
                // Six-field NCRONTAB, one expected schedule per timer.
                let schedule = match t.name {
                    // A digest every hour.
                    "audit-digest" => "0 0 * * * *",
                    // The reconciler every 15 minutes (its grace is 15 minutes too).
                    "reconcile" => "0 */15 * * * *",
                    other => panic!("timer {other} has no expected schedule here"),
                };
                assert_eq!(b["schedule"], schedule, "{}", t.name);
                assert_eq!(b["runOnStartup"], false, "{}", t.name);
            }
        }
    }
    for (name, f) in &fns {
        let is_http = f["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "httpTrigger");
        assert!(
            is_http || TRIGGERS.iter().any(|t| t.name == name),
            "functions/{name} has no handler"
        );
    }
}

#[test]
fn local_settings_hold_no_secrets() {
    let s = read(&root().join("local.settings.json"));
    for (k, v) in s["Values"].as_object().unwrap() {
        let v = v.as_str().unwrap();
        assert!(!v.contains("AccountKey="), "{k}");
        assert!(
            !k.to_lowercase().contains("secret") && !k.to_lowercase().contains("password"),
            "{k}"
        );
    }
}

/// The README's settings table lists every setting the code reads, with the same default.
#[test]
fn the_readme_documents_every_setting() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for (name, default, _) in clment_handler::config::SETTINGS {
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("README has no row for {name}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(
            cells.get(2).copied(),
            Some(*default),
            "README default for {name}: {row}"
        );
    }
}
