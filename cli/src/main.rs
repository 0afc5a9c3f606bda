//! `medseal`: seal and open MedSeal files natively, with the same core as the browser.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "medseal", version, about = "Seal and open MedSeal files")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encrypt INPUT for a link key, printed on stdout.
    Encrypt {
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Decrypt INPUT with a link key.
    Decrypt {
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long)]
        key: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("medseal: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    use medseal_core::seal::{FileMeta, LinkKey, open, seal};
    match cli.command {
        Command::Encrypt { input, output } => {
            let data = std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
            let key = LinkKey::generate().map_err(|e| e.to_string())?;
            let name = input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let meta = FileMeta {
                name,
                media_type: String::new(),
            };
            let sealed = seal(&key, &meta, &data).map_err(|e| e.to_string())?;
            std::fs::write(&output, sealed).map_err(|e| format!("{}: {e}", output.display()))?;
            println!("{}", key.to_fragment());
            Ok(())
        }
        Command::Decrypt { input, output, key } => {
            let key = LinkKey::from_fragment(&key).map_err(|e| e.to_string())?;
            let data = std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
            let (_, plain) = open(&key, &data).map_err(|e| e.to_string())?;
            std::fs::write(&output, plain).map_err(|e| format!("{}: {e}", output.display()))
        }
    }
}
