//! The `medseal-server` binary: parses settings, opens storage, listens, sweeps.
#![forbid(unsafe_code)]

use std::io::Write as _;

use clap::Parser as _;
use medseal_server::settings::Settings;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = Settings::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("medseal-server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> Result<(), Box<dyn std::error::Error>> {
    let listen = settings.listen;
    let state = medseal_server::AppState::new(settings)?;
    if let Err(e) = medseal_server::sweeper::sweep(&state).await {
        tracing::warn!(error = %e, "initial sweep failed");
    }
    tokio::spawn(medseal_server::sweeper::run(state.clone()));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "MedSeal listening on http://{addr}")?;
        out.flush()?;
    }
    tracing::info!(storage = state.objects.store.name(), "listening");
    let header_timeout = std::time::Duration::from_secs(state.settings.header_timeout);
    medseal_server::limits::serve(
        listener,
        medseal_server::app(state),
        header_timeout,
        shutdown(),
    )
    .await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
