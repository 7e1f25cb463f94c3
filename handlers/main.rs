//! The `handler` executable that the Azure Functions host starts (host.json
//! `customHandler.description.defaultExecutablePath`). Everything lives in `clment-handler`.

fn main() -> std::process::ExitCode {
    match clment_handler::cli::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("handler: {e:#}");
            let verdict = e
                .downcast_ref::<clment_handler::cli::NotVerified>()
                .is_some();
            std::process::ExitCode::from(if verdict { 1 } else { 2 })
        }
    }
}
