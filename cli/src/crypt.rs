//! `medseal encrypt` and `medseal decrypt`, streaming in 1 MiB pieces so memory stays bounded
//! whatever the file size.

use std::io::Read;
use std::path::Path;

use medseal_core::container::{
    Argon2Params, DecryptError, Encryptor, FileMeta, Header, HeaderError, Identity, LinkKey,
    MAX_HEADER_LEN, PayloadDecryptor, Recipient,
};
use medseal_core::pki::PublicKey;
use zeroize::Zeroizing;

use crate::io::{Output, describe, is_std, open_input, read_password, read_secret};

const PIECE: usize = 1 << 20;

fn guess_media_type(name: &str) -> (&'static str, &'static str) {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit('.').next().unwrap_or("");
    match ext {
        "json" => ("application/fhir+json", "fhir-json"),
        "ndjson" => ("application/fhir+ndjson", "fhir-ndjson"),
        "csv" => ("text/csv", "csv"),
        "txt" => ("text/plain", "text"),
        "pdf" => ("application/pdf", "pdf"),
        "png" => ("image/png", "image"),
        "jpg" | "jpeg" => ("image/jpeg", "image"),
        _ => ("application/octet-stream", "other"),
    }
}

fn now() -> Option<u64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

pub fn encrypt(
    input: &Path,
    output: &Path,
    recipient_files: &[std::path::PathBuf],
    password_file: Option<&Path>,
) -> Result<(), String> {
    if password_file.is_some() && !recipient_files.is_empty() {
        return Err("--password-file works with a link key only, not with --recipient".into());
    }
    let publics = recipient_files
        .iter()
        .map(|p| {
            let pem = read_secret(p)?;
            let text =
                std::str::from_utf8(&pem).map_err(|_| format!("{}: not PEM", p.display()))?;
            PublicKey::from_pem(text).map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let password = password_file.map(read_password).transpose()?;
    let link = if publics.is_empty() {
        Some(LinkKey::generate().map_err(|e| e.to_string())?)
    } else {
        None
    };
    let recipients: Vec<Recipient<'_>> = match (&link, &password) {
        (Some(link), Some(password)) => vec![Recipient::Password {
            link,
            password,
            params: Argon2Params::DEFAULT,
        }],
        (Some(link), None) => vec![Recipient::Link(link)],
        _ => publics.iter().map(Recipient::Rsa).collect(),
    };

    let name = if is_std(input) {
        String::new()
    } else {
        input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let (media_type, kind) = guess_media_type(&name);
    let meta = FileMeta {
        name,
        media_type: media_type.into(),
        kind: kind.into(),
        masked: false,
        policy: None,
        created: now(),
    };

    // The container records the content length up front. A file knows it; stdin is read into
    // memory first.
    let mut stdin_data = Zeroizing::new(Vec::new());
    let (mut reader, len): (Box<dyn Read>, u64) = if is_std(input) {
        std::io::stdin()
            .lock()
            .read_to_end(&mut stdin_data)
            .map_err(|e| describe(input, &e))?;
        let len = stdin_data.len() as u64;
        (
            Box::new(std::io::Cursor::new(std::mem::take(&mut *stdin_data))),
            len,
        )
    } else {
        let file = std::fs::File::open(input).map_err(|e| describe(input, &e))?;
        let len = file.metadata().map_err(|e| describe(input, &e))?.len();
        (Box::new(file), len)
    };

    let mut out = Output::create(output)?;
    let (mut enc, head) = Encryptor::new(&recipients, &meta, len).map_err(|e| e.to_string())?;
    out.write(&head)?;
    let mut buf = Zeroizing::new(vec![0u8; PIECE]);
    let mut seen = 0u64;
    loop {
        let n = read_full(&mut reader, &mut buf).map_err(|e| describe(input, &e))?;
        if n == 0 {
            break;
        }
        seen += n as u64;
        if seen > len {
            return Err(format!(
                "{}: the file grew while being encrypted",
                input.display()
            ));
        }
        out.write(&enc.push(&buf[..n]).map_err(|e| e.to_string())?)?;
    }
    while let Some(chunk) = enc
        .next_final_chunk()
        .map_err(|e| format!("{}: {e} (did the file shrink?)", input.display()))?
    {
        out.write(&chunk)?;
    }
    out.commit()?;
    if let Some(link) = &link {
        // With the container on stdout, the key goes to stderr so the two never mix.
        if is_std(output) {
            eprintln!("{}", link.to_fragment());
        } else {
            println!("{}", link.to_fragment());
        }
    }
    Ok(())
}

fn explain(e: &DecryptError) -> String {
    format!("{e} [{}]", e.code())
}

pub fn decrypt(
    input: &Path,
    output: &Path,
    key: Option<&str>,
    identity_file: Option<&Path>,
    password_file: Option<&Path>,
) -> Result<(), String> {
    let link = key
        .map(|k| LinkKey::parse(k).map_err(|e| e.to_string()))
        .transpose()?;
    let password = password_file.map(read_password).transpose()?;
    let private = identity_file
        .map(crate::bundle::load_private_key)
        .transpose()?;
    let identity = match (&link, &password, &private) {
        (Some(l), Some(p), _) => Identity::Password(l, p),
        (Some(l), None, _) => Identity::Link(l),
        (None, _, Some(k)) => Identity::Rsa(k),
        _ => return Err("give --key or --identity".into()),
    };

    let mut reader = open_input(input)?;
    let mut head = Vec::with_capacity(4096);
    let mut buf = vec![0u8; PIECE];
    let (header, header_len) = loop {
        match Header::parse_prefix(&head) {
            Ok(Some(found)) => break found,
            Ok(None) => {}
            Err(e) => return Err(explain(&e.into())),
        }
        let want = (MAX_HEADER_LEN + 1).saturating_sub(head.len()).min(4096);
        let n = reader
            .read(&mut buf[..want])
            .map_err(|e| describe(input, &e))?;
        if n == 0 {
            return Err(explain(&HeaderError::Truncated.into()));
        }
        head.extend_from_slice(&buf[..n]);
    };
    let mut dec = PayloadDecryptor::new(&header, identity).map_err(|e| explain(&e.into()))?;
    // The output file exists only as a hidden temporary until every chunk has authenticated;
    // on any error it is deleted when `out` drops.
    let mut out = Output::create(output)?;
    let mut plain = Zeroizing::new(
        dec.push(&head[header_len..])
            .map_err(|e| explain(&e.into()))?,
    );
    out.write(&plain)?;
    loop {
        let n = read_full(&mut reader, &mut buf).map_err(|e| describe(input, &e))?;
        if n == 0 {
            break;
        }
        plain = Zeroizing::new(dec.push(&buf[..n]).map_err(|e| explain(&e.into()))?);
        out.write(&plain)?;
    }
    plain = Zeroizing::new(dec.finish().map_err(|e| explain(&e.into()))?);
    out.write(&plain)?;
    out.commit()?;
    if let Some(meta) = dec.metadata() {
        if !is_std(output) {
            eprintln!(
                "medseal: decrypted {:?} ({}{})",
                meta.name,
                if meta.media_type.is_empty() {
                    "unknown type"
                } else {
                    &meta.media_type
                },
                if meta.masked { ", masked" } else { "" }
            );
        }
    }
    Ok(())
}
