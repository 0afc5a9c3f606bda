//! `medseal`: encrypt and decrypt MedSeal containers natively, with the same core as the
//! browser. Each subcommand lives in its own module.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bundle;
mod contribute;
mod crypt;
mod http;
mod io;
mod keys;
mod mask;
mod shl;

#[derive(Parser)]
#[command(
    name = "medseal",
    version,
    about = "Encrypt and decrypt MedSeal containers, mask records, contribute to studies and export their bundles"
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
    /// Decrypt a study bundle with the researcher's private key and write the export zip: FHIR
    /// NDJSON per resource type, CSV tables, manifest and re-identification risk report (the
    /// same files as the browser's export). The bundle is a file (as downloaded from the study
    /// page or `GET /api/studies/{id}/bundle`), or, with --server, downloaded with the study's
    /// admin token after checking that the study is signed by the --identity key. The export
    /// time in the manifest is now, or SOURCE_DATE_EPOCH when set.
    Bundle {
        /// The bundle file (not with --server).
        #[arg(required_unless_present = "server", conflicts_with = "server")]
        input: Option<PathBuf>,
        /// Where to write the export zip, or `-` for stdout. Written only when complete.
        #[arg(short, long)]
        output: PathBuf,
        /// The researcher's private key (PKCS#8 PEM, as exported by the key manager).
        #[arg(short, long, value_name = "PRIVATE_KEY.pem")]
        identity: PathBuf,
        /// Download the bundle from this MedSeal server (https://host).
        #[arg(long, value_name = "URL", requires_all = ["study", "admin_token_file"])]
        server: Option<String>,
        /// With --server: the study id (or its admin link). Without: the study description
        /// file (JSON as served by `GET /api/studies/{id}`), put in the export. An id may
        /// begin with `-` (it is base64url).
        #[arg(long, value_name = "ID|STUDY.json", allow_hyphen_values = true)]
        study: Option<String>,
        /// With --server: a file holding the study's admin token (or the admin link), sent
        /// only in the Authorization header.
        #[arg(long, value_name = "F", requires = "server")]
        admin_token_file: Option<PathBuf>,
        /// With --server: the largest bundle to download, in bytes. The bundle is read as a
        /// stream, one contribution at a time, and the export written as one.
        #[arg(long, value_name = "BYTES", requires = "server",
              default_value_t = bundle::DEFAULT_MAX_BUNDLE)]
        max_bundle_size: u64,
        /// The k of the risk report (default: the study's, else 5).
        #[arg(long)]
        k: Option<u32>,
    },
    /// Contribute records to a research study as the browser's contribution page does: check
    /// the study against the researcher's key fingerprint the link pins, mask each file with
    /// the study's policy under your pseudonym key for this study, encrypt to the researcher's
    /// key and upload with no identity. Prints the private withdraw link on stdout.
    Contribute {
        /// The contribution link (https://host/c/STUDY#FINGERPRINT), or the study id with
        /// --fingerprint. An id may begin with `-` (it is base64url).
        #[arg(allow_hyphen_values = true)]
        study: String,
        /// The records (FHIR JSON Bundle or resource, NDJSON, CSV or text).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The MedSeal server (default: the link's).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// The researcher's key fingerprint (base64url or hex), if not in the link.
        /// A base64url fingerprint may begin with `-`.
        #[arg(long, value_name = "FP", allow_hyphen_values = true)]
        fingerprint: Option<String>,
        /// Your patient secret (32 random bytes, base64url), created with mode 0600 if
        /// missing. The same secret gives the same pseudonyms in a study, so your records
        /// link together there and nowhere else.
        #[arg(long, value_name = "F")]
        secret_file: PathBuf,
    },
    /// SMART Health Links: share FHIR records as a `shlink:/` link any SMART Health Link viewer
    /// opens, and open links from any host.
    #[command(subcommand)]
    Shl(ShlCommand),
    /// Print the fingerprint of a public or private key (PEM file, or `-` for stdin).
    Fingerprint {
        /// The key file.
        key: PathBuf,
    },
}

#[derive(Subcommand)]
enum ShlCommand {
    /// Encrypt FHIR JSON or SMART Health Card files with a new link key (the key and the
    /// passcode stay here: the server gets ciphertext and the passcode's Argon2id hash), host
    /// them on a MedSeal server and print the link (`VIEWER/#shlink:/...`) on stdout.
    Create {
        /// The files, in order (1 to 16).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The MedSeal server that hosts the link (https://host).
        #[arg(long, value_name = "URL")]
        server: String,
        /// Protect the link with the passcode in the first line of this file (flag P).
        #[arg(long, value_name = "F")]
        passcode_file: Option<PathBuf>,
        /// Wrong passcodes allowed before the link is disabled (server default 10).
        #[arg(long, value_name = "N", requires = "passcode_file")]
        max_attempts: Option<u32>,
        /// Seconds until the link expires (default a week, or the server's limit).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
        /// Manifest requests the link answers (default 10, or the server's limit).
        #[arg(long, value_name = "N")]
        max_downloads: Option<u32>,
        /// A short description shown to whoever opens the link (at most 80 characters).
        #[arg(long)]
        label: Option<String>,
        /// Flag U: one file, fetched directly with no manifest and no passcode.
        #[arg(long, conflicts_with = "passcode_file")]
        direct: bool,
        /// The viewer page the printed link opens in (default: the server's own).
        #[arg(long, value_name = "URL")]
        viewer: Option<String>,
        /// Write the revoke token to this file (mode 0600) instead of stderr.
        #[arg(long, value_name = "F")]
        revoke_token_file: Option<PathBuf>,
    },
    /// Open a SMART Health Link from any host: request its manifest (or its single file, flag
    /// U), decrypt every file with the link's key and write each, byte for byte, to OUTPUT as
    /// `shl-file-N.json` (or `.smart-health-card`). Health cards are read without verifying
    /// their signatures.
    Open {
        /// The link (`shlink:/...` or `https://viewer/#shlink:/...`), or `-` for stdin. A
        /// link does not begin with `-`, so none is mistaken for a flag.
        link: String,
        /// The folder to write the files to (made if missing).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// The passcode, in the first line of this file (links with flag P).
        #[arg(long, value_name = "F")]
        passcode_file: Option<PathBuf>,
        /// Who is opening the link, sent to the host for the sharer to see.
        #[arg(long, default_value = "medseal-cli")]
        recipient: String,
        /// Also follow plain http:// links (a test host on localhost).
        #[arg(long, env = "MEDSEAL_SHL_ALLOW_HTTP")]
        allow_http: bool,
    },
    /// Revoke a MedSeal-hosted link: it answers 404 from then on.
    Revoke {
        /// The link, or its url (https://host/api/shl/ID).
        link: String,
        /// The file holding the revoke token `create` gave.
        #[arg(long, value_name = "F")]
        token_file: PathBuf,
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
            server,
            study,
            admin_token_file,
            max_bundle_size,
            k,
        } => match (server, input) {
            (Some(server), _) => bundle::bundle_from_server(
                &bundle::Remote {
                    server: &server,
                    study: study.as_deref().unwrap_or(""),
                    admin_token_file: admin_token_file.as_deref().unwrap_or(Path::new("")),
                    max_bundle: max_bundle_size,
                },
                &output,
                &identity,
                k,
            ),
            (None, Some(input)) => bundle::bundle(
                &input,
                &output,
                &identity,
                k,
                study.as_deref().map(Path::new),
            ),
            (None, None) => Err("give the bundle file, or --server".into()),
        },
        Command::Contribute {
            study,
            files,
            server,
            fingerprint,
            secret_file,
        } => contribute::contribute(&contribute::Request {
            server: server.as_deref(),
            study: &study,
            fingerprint: fingerprint.as_deref(),
            secret_file: &secret_file,
            files: &files,
        }),
        Command::Shl(ShlCommand::Create {
            files,
            server,
            passcode_file,
            max_attempts,
            expires_in,
            max_downloads,
            label,
            direct,
            viewer,
            revoke_token_file,
        }) => shl::create(&shl::Create {
            server: &server,
            files: &files,
            passcode_file: passcode_file.as_deref(),
            max_attempts,
            expires_in,
            max_downloads,
            label: label.as_deref(),
            direct,
            viewer: viewer.as_deref(),
            revoke_token_file: revoke_token_file.as_deref(),
        }),
        Command::Shl(ShlCommand::Open {
            link,
            output,
            passcode_file,
            recipient,
            allow_http,
        }) => shl::open(&shl::Open {
            link: &link,
            output: &output,
            passcode_file: passcode_file.as_deref(),
            recipient: &recipient,
            allow_http,
        }),
        Command::Shl(ShlCommand::Revoke { link, token_file }) => shl::revoke(&link, &token_file),
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::{Cli, Command};

    /// Study ids and fingerprints are base64url: one in 64 begins with `-`, and must still be
    /// read as a value, wherever it stands.
    #[test]
    fn ids_and_fingerprints_that_begin_with_a_hyphen_are_values() {
        let id = "-bCdEfGhIjKlMnOpQrStUv";
        let fp = "-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        for args in [
            vec![
                "--server",
                "http://h",
                id,
                "r.json",
                "--fingerprint",
                fp,
                "--secret-file",
                "s",
            ],
            vec![
                "--server",
                "http://h",
                "--fingerprint",
                fp,
                "--secret-file",
                "s",
                id,
                "r.json",
            ],
        ] {
            let cli = Cli::try_parse_from(["medseal", "contribute"].into_iter().chain(args))
                .unwrap_or_else(|e| panic!("{e}"));
            let Command::Contribute {
                study,
                files,
                fingerprint,
                server,
                ..
            } = cli.command
            else {
                panic!("not contribute");
            };
            assert_eq!(study, id);
            assert_eq!(files, [std::path::PathBuf::from("r.json")]);
            assert_eq!(fingerprint.as_deref(), Some(fp));
            assert_eq!(server.as_deref(), Some("http://h"));
        }
        let cli = Cli::try_parse_from([
            "medseal",
            "bundle",
            "--server",
            "http://h",
            "--study",
            id,
            "--admin-token-file",
            "t",
            "-i",
            "k.pem",
            "-o",
            "x.zip",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let Command::Bundle { study, input, .. } = cli.command else {
            panic!("not bundle");
        };
        assert_eq!(study.as_deref(), Some(id));
        assert!(input.is_none());
    }
}
