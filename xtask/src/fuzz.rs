//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs each cargo-fuzz target of `fuzz/` for a
//! bounded time (60 seconds each by default) with nightly Rust. Standard library only.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The fuzz targets, in the order they run.
pub const TARGETS: &[&str] = &["header", "container"];

fn repo_root() -> PathBuf {
    // xtask lives in <root>/xtask.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Parses the arguments and runs the targets.
///
/// # Errors
/// A message if an argument is wrong, nightly or cargo-fuzz is missing, or a target finds a
/// crash (its artifact is then under `fuzz/artifacts/TARGET/`).
pub fn run(args: &[String]) -> Result<(), String> {
    let mut seconds: u64 = 60;
    let mut targets: Vec<String> = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = iter.next().ok_or("--seconds needs a number")?;
                seconds = value
                    .parse()
                    .map_err(|_| format!("--seconds: not a number: {value}"))?;
            }
            "-h" | "--help" => {
                println!(
                    "cargo xtask fuzz [--seconds N] [TARGET...]   targets: {}",
                    TARGETS.join(", ")
                );
                return Ok(());
            }
            t if TARGETS.contains(&t) => targets.push(t.to_owned()),
            other => return Err(format!("unknown fuzz argument or target: {other}")),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    let have_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have_fuzz {
        return Err(
            "cargo-fuzz with nightly Rust is needed: `rustup toolchain install nightly` and \
             `cargo install cargo-fuzz`"
                .into(),
        );
    }
    let root = repo_root();
    for target in &targets {
        println!("fuzz: {target} for {seconds} s");
        let corpus = root.join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let status = Command::new("cargo")
            .current_dir(&root)
            .args(["+nightly", "fuzz", "run", target])
            .arg("--fuzz-dir")
            .arg(root.join("fuzz"))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-max_len=300000")
            .status()
            .map_err(|e| format!("cannot run cargo fuzz: {e}"))?;
        if !status.success() {
            return Err(format!(
                "fuzz target {target} failed; see fuzz/artifacts/{target}/ for the input"
            ));
        }
    }
    Ok(())
}
