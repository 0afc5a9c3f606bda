//! `cargo xtask`: the one entry point for automation.
//!
//! - `cargo xtask run [--listen ADDR] [--data-dir DIR]` installs what is missing, builds the app
//!   and the server in release mode and serves MedSeal.
//! - `cargo xtask test` installs what the tests need and runs every test: core (native and in
//!   headless Chromium), server, CLI and end-to-end in real browsers against the real server:
//!   the WebDriver journeys (tests/e2e/journeys) in Chromium, Firefox ESR and WebKitGTK in turn.
//!
//! Standard library only: this runs before anything else is installed.

mod bench;
mod fuzz;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use tools::{Stage, Tally};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("build") => build_all().map(|_| ()),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("install") => tools::install_build_tools().and_then(|()| tools::install_test_tools()),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <command>

commands:
  run [--listen ADDR] [--data-dir DIR]   build everything in release mode and serve MedSeal
                                         (default http://127.0.0.1:8080, data in ./medseal-data;
                                         also MEDSEAL_LISTEN and MEDSEAL_DATA_DIR)
  test [--no-e2e] [--no-wasm]            install test tools and run every test
  build                                  build the app (dist/) and the server in release mode
  fuzz [--seconds N] [TARGET...]         run the cargo-fuzz targets (nightly) for a bounded time
  install                                install the build and test tools only";

/// The repository root (the parent of this crate's folder).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

fn run(args: &[String]) -> Result<(), String> {
    let mut listen = std::env::var("MEDSEAL_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let mut data_dir = std::env::var("MEDSEAL_DATA_DIR").unwrap_or_else(|_| "medseal-data".into());
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--listen" => listen = rest.next().ok_or("--listen needs an address")?.clone(),
            "--data-dir" => data_dir = rest.next().ok_or("--data-dir needs a folder")?.clone(),
            other => return Err(format!("unknown option {other}\n\n{USAGE}")),
        }
    }
    let server = build_all()?;
    println!("xtask: starting MedSeal; data in {data_dir}");
    let status = Command::new(server)
        .current_dir(root())
        .args([
            "--listen",
            &listen,
            "--data-dir",
            &data_dir,
            "--static-dir",
            "dist",
        ])
        .status()
        .map_err(|e| format!("could not start the server: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the server stopped: {status}"))
    }
}

/// Installs the build tools, builds the app into `dist/` and the server, and returns the
/// server binary's path.
fn build_all() -> Result<PathBuf, String> {
    tools::install_build_tools()?;
    build_app()?;
    let stage = Stage::start("build the server (release)");
    tools::cargo(&[
        "build",
        "--release",
        "--locked",
        "-p",
        "medseal-server",
        "-p",
        "medseal-cli",
    ])?;
    stage.done();
    Ok(root().join("target/release/medseal-server"))
}

/// `trunk build --release` into `dist/`. Trunk is told to stay offline: every tool it needs is
/// installed and pinned by `tools::install_build_tools`.
fn build_app() -> Result<(), String> {
    let stage = Stage::start("build the browser app (trunk, release)");
    tools::cargo(&["fetch", "--locked"])?;
    tools::run(
        tools::command("trunk")
            .args(["build", "--release", "--offline", "--locked"])
            .current_dir(root()),
    )?;
    stage.done();
    Ok(())
}

/// Examples per operation and phase in `cargo xtask test`'s schemathesis stage.
const SCHEMATHESIS_EXAMPLES: &str = "30";

fn test(args: &[String]) -> Result<(), String> {
    let e2e = !args.iter().any(|a| a == "--no-e2e");
    let wasm = !args.iter().any(|a| a == "--no-wasm");
    let started = Instant::now();
    tools::install_build_tools()?;
    tools::install_test_tools()?;
    let mut tally = Tally::default();

    let stage = Stage::start("native tests (core, server, cli)");
    tally.cargo_tests(
        "native",
        &[
            "test",
            "--locked",
            "--workspace",
            "--exclude",
            "medseal-frontend",
            "--exclude",
            "xtask",
        ],
        &[],
    );
    stage.done();

    // The OpenAPI contract under a third-party fuzzer (server/API.md "Fuzzing with
    // schemathesis"), with a bounded number of examples per operation so that the stage stays
    // within a few minutes on two cores.
    let stage = Stage::start("schemathesis against the server's OpenAPI document");
    tally.exit_status(
        "schemathesis",
        tools::command("bash")
            .arg(root().join("server/schemathesis.sh"))
            .args(["--max-examples", SCHEMATHESIS_EXAMPLES]),
    );
    stage.done();

    if wasm {
        let stage = Stage::start("wasm tests in headless Chromium (wasm-bindgen-test)");
        let runner = tools::cargo_bin("wasm-bindgen-test-runner");
        let envs = [
            (
                "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
                runner.to_string_lossy().into_owned(),
            ),
            ("CHROMEDRIVER", "/usr/bin/chromedriver".to_owned()),
            ("WASM_BINDGEN_TEST_TIMEOUT", "600".to_owned()),
        ];
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let wasm_test = ["test", "--locked", "--target", "wasm32-unknown-unknown"];
        tally.cargo_tests(
            "wasm core",
            &[&wasm_test[..], &["-p", "medseal-core", "--tests"]].concat(),
            &envs,
        );
        // WebCrypto and the aes-gcm crate must give the same bytes (frontend/tests/webcrypto.rs).
        tally.cargo_tests(
            "wasm webcrypto",
            &[
                &wasm_test[..],
                &["-p", "medseal-frontend", "--test", "webcrypto"],
            ]
            .concat(),
            &envs,
        );
        stage.done();
    }

    if e2e {
        // One build of the app and the server serves every engine; the engines run in turn.
        let stage = Stage::start("end-to-end: build the app and the server");
        let built = build_for_e2e();
        stage.done();
        match built {
            Ok(server) => {
                let stage = Stage::start("end-to-end in Chromium (Playwright-only tests)");
                let playwright = e2e_files(false);
                // With no file named, node would run every test file, the journeys included.
                if !playwright.is_empty() {
                    tally.node_tests("e2e chromium playwright", &server, "chromium", &playwright);
                }
                stage.done();
                for (engine, stage_name) in [
                    ("chromium", "end-to-end journeys in Chromium (chromedriver)"),
                    (
                        "firefox",
                        "end-to-end journeys in Firefox ESR (geckodriver)",
                    ),
                    (
                        "webkit",
                        "end-to-end journeys in WebKitGTK (WebKitWebDriver, Xvfb)",
                    ),
                ] {
                    let stage = Stage::start(stage_name);
                    let label = format!("journeys {engine}");
                    tally.node_tests(&label, &server, engine, &e2e_files(true));
                    stage.done();
                }
            }
            Err(message) => tally.broken("e2e build", &message),
        }
    }

    println!(
        "\nxtask: all tests took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    tally.summary()
}

/// The end-to-end test files, relative to tests/e2e: the WebDriver journeys (run in every
/// engine) or the others (Playwright, Chromium only).
fn e2e_files(journeys: bool) -> Vec<String> {
    let dir = root()
        .join("tests/e2e")
        .join(if journeys { "journeys" } else { "" });
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".test.mjs"))
                .map(|n| if journeys { format!("journeys/{n}") } else { n })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The app in release mode (what users get) and the server binary the tests start.
fn build_for_e2e() -> Result<PathBuf, String> {
    build_app()?;
    tools::cargo(&[
        "build",
        "--locked",
        "-p",
        "medseal-server",
        "-p",
        "medseal-cli",
    ])?;
    Ok(root().join("target/debug/medseal-server"))
}
