//! `medseal`: encrypt and decrypt MedSeal containers natively, with the same core as the
//! browser. Each subcommand lives in its own module.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bundle;
mod crypt;
mod io;
mod keys;
mod mask;

#[derive(Parser)]
#[command(
    name = "medseal",
    version,
    about = "Encrypt and decrypt MedSeal containers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encrypt INPUT into a container. With no --recipient, it is encrypted for a new link key,
    /// printed on stdout (base64url); --password-file adds a password that is needed as well.
    Encrypt {
        /// File to encrypt, or `-` for stdin (read into memory: the length must be known).
        input: PathBuf,
        /// Container to write, or `-` for stdout.
        #[arg(short, long)]
        output: PathBuf,
        /// Encrypt to this RSA public key (PEM); repeat for several recipients.
        #[arg(short, long = "recipient", value_name = "PUBLIC_KEY.pem")]
        recipients: Vec<PathBuf>,
        /// Also require the password in the first line of this file (with a link key only).
        #[arg(long, value_name = "F")]
        password_file: Option<PathBuf>,
    },
    /// Decrypt a container. On any failure, exits non-zero and leaves no output file behind.
    Decrypt {
        /// Container to read, or `-` for stdin.
        input: PathBuf,
        /// File to write the original to, or `-` for stdout.
        #[arg(short, long)]
        output: PathBuf,
        /// The link key (base64url), as printed by `encrypt`.
        /// A key may begin with `-` (it is base64url), so values that look like flags are taken.
        #[arg(
            long,
            conflicts_with = "identity",
            required_unless_present = "identity",
            allow_hyphen_values = true
        )]
        key: Option<String>,
        /// An RSA private key (PKCS#8 PEM) the container was encrypted to.
        #[arg(short, long, value_name = "PRIVATE_KEY.pem")]
        identity: Option<PathBuf>,
        /// The password, in the first line of this file (with --key).
        #[arg(long, value_name = "F", requires = "key")]
        password_file: Option<PathBuf>,
    },
    /// Generate an RSA key pair: the private key to OUTPUT, the public key beside it
    /// (`NAME.pub.pem`).
    Keygen {
        /// Where to write the private key (PKCS#8 PEM, mode 0600).
        #[arg(short, long)]
        output: PathBuf,
        /// Modulus size in bits (3072 to 8192).
        #[arg(long, default_value_t = medseal_core::pki::DEFAULT_RSA_BITS)]
        bits: usize,
    },
    /// De-identify a record (FHIR JSON Bundle or resource, NDJSON, CSV or text), keeping its
    /// form. Writes to OUTPUT or stdout; --report prints what changed on stderr.
    Mask {
        /// The record, or `-` for stdin.
        input: PathBuf,
        /// Where to write the masked record (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// A built-in policy (safe-harbor) or a policy JSON file.
        #[arg(
            long,
            default_value = "safe-harbor",
            value_name = "safe-harbor|POLICY.json"
        )]
        policy: String,
        /// The pseudonym key (at least 16 bytes); the same key gives the same pseudonyms.
        #[arg(long, value_name = "F")]
        key_file: Option<PathBuf>,
        /// Print the report of changes on stderr.
        #[arg(long)]
        report: bool,
    },
    /// Decrypt a study bundle (as downloaded from the study page or `GET
    /// /api/studies/{id}/bundle`) with the researcher's private key and write the export zip:
    /// FHIR NDJSON per resource type, CSV tables, manifest and re-identification risk report.
    Bundle {
        /// The bundle file.
        input: PathBuf,
        /// Where to write the export zip, or `-` for stdout.
        #[arg(short, long)]
        output: PathBuf,
        /// The researcher's private key (PKCS#8 PEM, as exported by the key manager).
        #[arg(short, long, value_name = "PRIVATE_KEY.pem")]
        identity: PathBuf,
        /// The study description (JSON as served by `GET /api/studies/{id}`), put in the export.
        #[arg(long, value_name = "STUDY.json")]
        study: Option<PathBuf>,
        /// The k of the risk report (default: the study's, else 5).
        #[arg(long)]
        k: Option<u32>,
    },
    /// Print the fingerprint of a public or private key (PEM file, or `-` for stdin).
    Fingerprint {
        /// The key file.
        key: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Encrypt {
            input,
            output,
            recipients,
            password_file,
        } => crypt::encrypt(&input, &output, &recipients, password_file.as_deref()),
        Command::Decrypt {
            input,
            output,
            key,
            identity,
            password_file,
        } => crypt::decrypt(
            &input,
            &output,
            key.as_deref(),
            identity.as_deref(),
            password_file.as_deref(),
        ),
        Command::Bundle {
            input,
            output,
            identity,
            study,
            k,
        } => bundle::bundle(&input, &output, &identity, k, study.as_deref()),
        Command::Keygen { output, bits } => keys::keygen(&output, bits),
        Command::Fingerprint { key } => keys::fingerprint(&key),
        Command::Mask {
            input,
            output,
            policy,
            key_file,
            report,
        } => mask::mask(
            &input,
            output.as_deref(),
            &policy,
            key_file.as_deref(),
            report,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("medseal: {message}");
            ExitCode::FAILURE
        }
    }
}
