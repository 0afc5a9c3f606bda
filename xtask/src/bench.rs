//! `cargo xtask bench [--quick] [--only NAME,...]`: builds the app, the server and the CLI in
//! release mode, then runs every benchmark of DESIGN.md section 6 in one run with
//! `tests/bench/bench.mjs`, which prints a table and writes `target/bench/results.json` (a list
//! of `{name, value, unit, reference_name, reference_value, note}`). Each figure is measured
//! next to its reference in the same run: WebCrypto in the same page on the same bytes, nginx
//! serving the same bytes, Node's JSON on the same fixture, WebCrypto's RSA key generation.
//!
//! The full run takes a few minutes (a 256 MiB file for throughput, a 1 GiB file shared and
//! opened through the real pages for peak memory); `--quick` uses smaller sizes and fewer
//! repetitions. Benchmarks never assert timings: they report.

use std::path::PathBuf;

use crate::root;
use crate::tools::{self, Stage};

const USAGE: &str = "usage: cargo xtask bench [--quick] [--only NAME,...]

  --quick        smaller files and fewer repetitions (under two minutes)
  --only NAMES   run only these groups: page_weight, mask_native, server, time_to_interactive,
                 browser_crypto, mask_browser, rsa_keygen, large, bundle100";

/// Runs the benchmarks.
///
/// # Errors
/// A message if a build or a benchmark fails.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut pass = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => pass.push(arg.clone()),
            "--only" => {
                pass.push(arg.clone());
                pass.push(rest.next().ok_or("--only needs a list of names")?.clone());
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown option {other}\n\n{USAGE}")),
        }
    }
    tools::install_test_tools()?;
    let nginx = PathBuf::from(std::env::var("NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into()));
    if !nginx.exists() {
        println!("xtask: installing nginx from apt (the server benchmark's reference)");
        tools::apt_install(&["nginx-light"])?;
    }

    // The same release build `cargo xtask run` serves.
    crate::build_all()?;

    let stage = Stage::start("benchmarks");
    let target = cargo_target_dir();
    let mut node = tools::command("node");
    node.arg(root().join("tests/bench/bench.mjs"))
        .args(&pass)
        .env("MEDSEAL_SERVER_BIN", target.join("release/medseal-server"))
        .env("MEDSEAL_CLI_BIN", target.join("release/medseal"))
        .env("MEDSEAL_DIST", root().join("dist"))
        .env("NGINX", &nginx);
    tools::run(&mut node)?;
    stage.done();
    Ok(())
}

/// Where cargo puts binaries: `CARGO_TARGET_DIR` or the workspace's `target/`.
fn cargo_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}
