//! SMART Health Links (HL7 FHIR IG "SMART Health Cards and Links", STU1): the `shlink:/`
//! payload, the manifest's wire types, the files' compact JWE (`alg: dir`, `enc: A256GCM`,
//! optional `zip: DEF`), the slow hash a MedSeal server keeps of a passcode, and reading the
//! FHIR out of a decrypted file (a FHIR resource, or the bundles inside a SMART Health Card).
//!
//! Sans I/O, like the rest of the core: the browser and the CLI fetch; this module says what
//! to send and what an answer means. FORMAT.md section 9 is the byte-level description.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::id::{b64url, from_b64url, random_bytes};

/// The URI scheme prefix of a SMART Health Link.
pub const SCHEME: &str = "shlink:/";
/// The protocol version this module implements.
pub const VERSION: u64 = 1;
/// The specification's limit on the manifest URL's length, in characters.
pub const MAX_URL_LEN: usize = 128;
/// The specification's limit on a label's length, in characters.
pub const MAX_LABEL_LEN: usize = 80;
/// Content type of a FHIR JSON file.
pub const FHIR_JSON: &str = "application/fhir+json";
/// Content type of a SMART Health Card file (`{"verifiableCredential": [JWS, ...]}`).
pub const HEALTH_CARD: &str = "application/smart-health-card";
/// Content type of a SMART access token file (not opened by MedSeal).
pub const API_ACCESS: &str = "application/smart-api-access";
/// Content type of a JWE served from a `location` URL or a `U` link.
pub const JOSE: &str = "application/jose";

/// Everything that can be wrong with a link, a JWE or a file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShlError {
    /// The text holds no `shlink:/` payload.
    #[error("This is not a SMART Health Link: it has no `shlink:/` part.")]
    NotALink,
    /// The payload is not base64url JSON of the expected shape.
    #[error("The SMART Health Link is damaged: {0}")]
    BadPayload(String),
    /// The link was made for a newer version of the protocol.
    #[error(
        "This SMART Health Link uses version {0} of the protocol; MedSeal reads version 1. It was not opened."
    )]
    NewerVersion(u64),
    /// The JWE is not a compact JWE this module can open.
    #[error("An encrypted file of the link is malformed: {0}")]
    BadJwe(String),
    /// The JWE uses an algorithm other than `dir` with `A256GCM`.
    #[error("An encrypted file of the link uses `{0}`, which SMART Health Links do not use.")]
    Unsupported(String),
    /// Authentication failed: wrong key or altered ciphertext.
    #[error(
        "A file of the link could not be decrypted: the key does not fit or the file was altered."
    )]
    Decrypt,
    /// Inflating a `zip: DEF` payload failed or passed the size limit.
    #[error("A compressed file of the link is damaged or larger than {0} bytes once expanded.")]
    Inflate(usize),
    /// The file's content is not what its content type says.
    #[error("A file of the link is not valid {0}.")]
    BadContent(&'static str),
    /// The platform random number generator failed.
    #[error("the platform random number generator failed")]
    Random,
}

/// A SMART Health Link payload: what `shlink:/` carries, base64url-encoded minified JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The manifest URL (or, with flag `U`, the single file's URL).
    pub url: String,
    /// The 32-byte key every file of the link is encrypted with.
    pub key: Zeroizing<[u8; 32]>,
    /// Expiry hint, Unix seconds.
    pub exp: Option<u64>,
    /// Flags, one character each, in alphabetical order (`L`, `P`, `U`).
    pub flag: String,
    /// A short description for people (at most 80 characters when MedSeal makes it).
    pub label: Option<String>,
    /// Protocol version; absent means 1.
    pub v: Option<u64>,
}

impl Link {
    /// A link to `url` with a fresh random key.
    ///
    /// # Errors
    /// [`ShlError::Random`] if the CSPRNG fails.
    pub fn generate(url: impl Into<String>) -> Result<Self, ShlError> {
        let key = random_bytes::<32>().map_err(|_| ShlError::Random)?;
        Ok(Self {
            url: url.into(),
            key: Zeroizing::new(key),
            exp: None,
            flag: String::new(),
            label: None,
            v: None,
        })
    }

    /// True if the link carries flag `c`.
    #[must_use]
    pub fn has_flag(&self, c: char) -> bool {
        self.flag.contains(c)
    }

    /// Sets the flags from a set of characters, sorted and deduplicated as the specification
    /// asks.
    pub fn set_flags(&mut self, flags: &str) {
        let mut chars: Vec<char> = flags.chars().filter(char::is_ascii_uppercase).collect();
        chars.sort_unstable();
        chars.dedup();
        self.flag = chars.into_iter().collect();
    }

    /// The link's text form, `shlink:/` followed by the base64url of the minified JSON payload.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut map = serde_json::Map::new();
        map.insert("url".into(), Value::String(self.url.clone()));
        map.insert("key".into(), Value::String(b64url(self.key.as_slice())));
        if let Some(exp) = self.exp {
            map.insert("exp".into(), Value::from(exp));
        }
        if !self.flag.is_empty() {
            map.insert("flag".into(), Value::String(self.flag.clone()));
        }
        if let Some(label) = &self.label {
            map.insert("label".into(), Value::String(label.clone()));
        }
        if let Some(v) = self.v {
            map.insert("v".into(), Value::from(v));
        }
        format!(
            "{SCHEME}{}",
            b64url(Value::Object(map).to_string().as_bytes())
        )
    }

    /// Reads a link from text: a bare `shlink:/PAYLOAD`, or any viewer URL whose fragment holds
    /// one (`https://viewer.example/#shlink:/PAYLOAD`). Lenient as the specification asks:
    /// unknown properties and flags are ignored, `exp` may be a number or a string of digits,
    /// padding and whitespace around the text are tolerated. A newer `v` is refused.
    ///
    /// # Errors
    /// [`ShlError::NotALink`], [`ShlError::BadPayload`], [`ShlError::NewerVersion`].
    pub fn parse(text: &str) -> Result<Self, ShlError> {
        let text = text.trim();
        let at = text.find(SCHEME).ok_or(ShlError::NotALink)?;
        let encoded: String = text[at + SCHEME.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '='))
            .filter(|c| *c != '=')
            .collect();
        let json = from_b64url(&encoded)
            .map_err(|_| ShlError::BadPayload("the payload is not base64url".into()))?;
        let value: Value = serde_json::from_slice(&json)
            .map_err(|_| ShlError::BadPayload("the payload is not JSON".into()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| ShlError::BadPayload("the payload is not a JSON object".into()))?;
        let v = match obj.get("v") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                lenient_u64(v)
                    .ok_or_else(|| ShlError::BadPayload("`v` is not a whole number".into()))?,
            ),
        };
        if let Some(v) = v
            && v > VERSION
        {
            return Err(ShlError::NewerVersion(v));
        }
        let url = obj
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| ShlError::BadPayload("it has no `url`".into()))?
            .to_owned();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ShlError::BadPayload(
                "its `url` is not an http(s) URL".into(),
            ));
        }
        let key_text = obj
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| ShlError::BadPayload("it has no `key`".into()))?;
        let key_bytes = Zeroizing::new(
            from_b64url(key_text.trim_end_matches('='))
                .map_err(|_| ShlError::BadPayload("its `key` is not base64url".into()))?,
        );
        let key: [u8; 32] = key_bytes
            .as_slice()
            .try_into()
            .map_err(|_| ShlError::BadPayload("its `key` is not 32 bytes".into()))?;
        let exp = match obj.get("exp") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                lenient_u64(v).ok_or_else(|| ShlError::BadPayload("`exp` is not a time".into()))?,
            ),
        };
        let flag = match obj.get("flag") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(ShlError::BadPayload("`flag` is not a string".into())),
        };
        if flag.contains('U') && flag.contains('P') {
            return Err(ShlError::BadPayload(
                "flags `U` and `P` cannot be used together".into(),
            ));
        }
        let label = obj.get("label").and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            url,
            key: Zeroizing::new(key),
            exp,
            flag,
            label,
            v,
        })
    }

    /// True if the link's `exp` is at or before `now` (Unix seconds).
    #[must_use]
    pub fn expired(&self, now: u64) -> bool {
        self.exp.is_some_and(|exp| exp <= now)
    }

    /// The label to show people: at most 80 characters, control characters removed.
    #[must_use]
    pub fn display_label(&self) -> Option<String> {
        let label = self.label.as_deref()?;
        let clean: String = label
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_LABEL_LEN)
            .collect();
        let clean = clean.trim().to_owned();
        (!clean.is_empty()).then_some(clean)
    }
}

/// A number, or a string of ASCII digits (some producers write `exp` that way), or an
/// integer-valued float.
fn lenient_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                // In range and integral, checked just above.
                .map(|f| {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let n = f as u64;
                    n
                })
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The body of a manifest request (`POST` to the link's `url`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRequest {
    /// Who is asking, for the sharer to see.
    pub recipient: String,
    /// The passcode, when the link has flag `P`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passcode: Option<String>,
    /// Longest `embedded` value the client wants; longer files come as `location`.
    #[serde(
        default,
        rename = "embeddedLengthMax",
        skip_serializing_if = "Option::is_none"
    )]
    pub embedded_length_max: Option<u64>,
}

/// A manifest: the files of a link.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The files, each embedded or at a short-lived location.
    pub files: Vec<ManifestFile>,
    /// An optional FHIR List with metadata; ignored by MedSeal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<Value>,
}

/// One file of a manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// `application/fhir+json`, `application/smart-health-card` or
    /// `application/smart-api-access`.
    #[serde(rename = "contentType")]
    pub content_type: String,
    /// The file's compact JWE, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded: Option<String>,
    /// A short-lived URL that answers the JWE to a `GET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// When the file last changed, ISO 8601.
    #[serde(
        default,
        rename = "lastUpdated",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_updated: Option<String>,
    /// `finalized`, `can-change`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// FHIR version of the content; absent means 4.0.1.
    #[serde(
        default,
        rename = "fhirVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub fhir_version: Option<String>,
}

/// Parses a manifest leniently: unknown properties are ignored, but every file must name a
/// content type and carry `embedded` or `location`.
///
/// # Errors
/// [`ShlError::BadContent`] if it is not a manifest.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, ShlError> {
    let manifest: Manifest =
        serde_json::from_slice(bytes).map_err(|_| ShlError::BadContent("manifest JSON"))?;
    if manifest
        .files
        .iter()
        .any(|f| f.embedded.is_none() && f.location.is_none())
    {
        return Err(ShlError::BadContent("manifest JSON"));
    }
    Ok(manifest)
}

/// The error answer to a wrong passcode: `401` with this body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasscodeRefused {
    /// Attempts left before the link is disabled.
    #[serde(rename = "remainingAttempts")]
    pub remaining_attempts: u64,
}

/// The JOSE header of a file.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    enc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crit: Option<Value>,
}

/// Encrypts `plaintext` as a compact JWE for a link's key, with a fresh 96-bit IV. With
/// `deflate`, the plaintext is compressed first (raw DEFLATE, header `zip: DEF`).
///
/// # Errors
/// [`ShlError::Random`] if the CSPRNG fails.
pub fn encrypt(
    key: &[u8; 32],
    plaintext: &[u8],
    content_type: &str,
    deflate: bool,
) -> Result<String, ShlError> {
    let header = Header {
        alg: "dir".into(),
        enc: "A256GCM".into(),
        cty: Some(content_type.to_owned()),
        zip: deflate.then(|| "DEF".to_owned()),
        crit: None,
    };
    let header_json = serde_json::to_vec(&header).map_err(|_| ShlError::Random)?;
    let protected = b64url(&header_json);
    let iv: [u8; 12] = random_bytes().map_err(|_| ShlError::Random)?;
    let compressed;
    let msg = if deflate {
        compressed = miniz_oxide::deflate::compress_to_vec(plaintext, 6);
        compressed.as_slice()
    } else {
        plaintext
    };
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| ShlError::Decrypt)?;
    let mut sealed = cipher
        .encrypt(
            &Nonce::<Aes256Gcm>::from(iv),
            Payload {
                msg,
                aad: protected.as_bytes(),
            },
        )
        .map_err(|_| ShlError::Decrypt)?;
    let tag = sealed.split_off(sealed.len() - 16);
    Ok(format!(
        "{protected}..{}.{}.{}",
        b64url(&iv),
        b64url(&sealed),
        b64url(&tag)
    ))
}

/// A decrypted file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The header's `cty`, when present.
    pub content_type: Option<String>,
    /// The plaintext, inflated if it was compressed.
    pub plaintext: Vec<u8>,
}

/// Decrypts a compact JWE with a link's key. Only `alg: dir` with `enc: A256GCM` is accepted;
/// `zip: DEF` is inflated, refusing output past `max_len` bytes (a compressed file is hostile
/// input: a few kilobytes can expand to gigabytes). A `crit` header is refused, since no
/// extension is understood.
///
/// # Errors
/// [`ShlError::BadJwe`], [`ShlError::Unsupported`], [`ShlError::Decrypt`],
/// [`ShlError::Inflate`].
pub fn decrypt(key: &[u8; 32], compact: &str, max_len: usize) -> Result<Opened, ShlError> {
    let compact = compact.trim();
    let mut parts = compact.split('.');
    let (Some(protected), Some(enc_key), Some(iv), Some(ct), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(ShlError::BadJwe("it does not have five parts".into()));
    };
    let header_json = from_b64url(protected)
        .map_err(|_| ShlError::BadJwe("its header is not base64url".into()))?;
    let header: Header = serde_json::from_slice(&header_json)
        .map_err(|_| ShlError::BadJwe("its header is not a JOSE header".into()))?;
    if header.alg != "dir" {
        return Err(ShlError::Unsupported(format!("alg {}", header.alg)));
    }
    if header.enc != "A256GCM" {
        return Err(ShlError::Unsupported(format!("enc {}", header.enc)));
    }
    if header.crit.is_some() {
        return Err(ShlError::Unsupported("crit".into()));
    }
    let deflated = match header.zip.as_deref() {
        None => false,
        Some("DEF") => true,
        Some(other) => return Err(ShlError::Unsupported(format!("zip {other}"))),
    };
    if !enc_key.is_empty() {
        return Err(ShlError::BadJwe(
            "it carries an encrypted key, which `alg: dir` forbids".into(),
        ));
    }
    let iv = from_b64url(iv).map_err(|_| ShlError::BadJwe("its IV is not base64url".into()))?;
    let iv: [u8; 12] = iv
        .as_slice()
        .try_into()
        .map_err(|_| ShlError::BadJwe("its IV is not 96 bits".into()))?;
    let mut body =
        from_b64url(ct).map_err(|_| ShlError::BadJwe("its ciphertext is not base64url".into()))?;
    let tag = from_b64url(tag).map_err(|_| ShlError::BadJwe("its tag is not base64url".into()))?;
    if tag.len() != 16 {
        return Err(ShlError::BadJwe("its tag is not 128 bits".into()));
    }
    if !deflated && body.len() > max_len {
        return Err(ShlError::Inflate(max_len));
    }
    body.extend_from_slice(&tag);
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| ShlError::Decrypt)?;
    let plain = cipher
        .decrypt(
            &Nonce::<Aes256Gcm>::from(iv),
            Payload {
                msg: &body,
                aad: protected.as_bytes(),
            },
        )
        .map_err(|_| ShlError::Decrypt)?;
    let plaintext = if deflated {
        inflate(&plain, max_len)?
    } else {
        plain
    };
    Ok(Opened {
        content_type: header.cty,
        plaintext,
    })
}

/// Raw DEFLATE (RFC 1951) with an output limit.
///
/// # Errors
/// [`ShlError::Inflate`] if the data is damaged or expands past `max_len`.
pub fn inflate(data: &[u8], max_len: usize) -> Result<Vec<u8>, ShlError> {
    miniz_oxide::inflate::decompress_to_vec_with_limit(data, max_len)
        .map_err(|_| ShlError::Inflate(max_len))
}

/// Argon2id cost a MedSeal client uses for a passcode's hash (OWASP's first recommendation,
/// 2023): 19 MiB, two passes, one lane.
pub const PASSCODE_M_KIB: u32 = 19_456;
/// Passes over memory.
pub const PASSCODE_T: u32 = 2;
/// The weakest memory cost a server accepts.
pub const PASSCODE_MIN_M_KIB: u32 = 19_456;
/// The greatest memory cost a server accepts: more would let a sharer make each check
/// expensive for the server.
pub const PASSCODE_MAX_M_KIB: u32 = 65_536;
/// The greatest number of passes a server accepts.
pub const PASSCODE_MAX_T: u32 = 4;

/// What a MedSeal server keeps of a passcode: an Argon2id hash made by the sharer's own
/// browser or CLI, so the passcode itself reaches the server only in manifest requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasscodeHash {
    /// Always `argon2id`.
    pub alg: String,
    /// Memory cost, KiB.
    pub m: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
    /// 16 random bytes, base64url.
    pub salt: String,
    /// The 32-byte Argon2id output, base64url.
    pub hash: String,
}

impl PasscodeHash {
    /// Hashes `passcode` (its UTF-8 bytes, unchanged) with a fresh salt.
    ///
    /// # Errors
    /// [`ShlError::Random`] if the CSPRNG or Argon2 fails.
    pub fn new(passcode: &str) -> Result<Self, ShlError> {
        let salt: [u8; 16] = random_bytes().map_err(|_| ShlError::Random)?;
        let mut out = Self {
            alg: "argon2id".into(),
            m: PASSCODE_M_KIB,
            t: PASSCODE_T,
            p: 1,
            salt: b64url(&salt),
            hash: String::new(),
        };
        out.hash = b64url(out.compute(passcode)?.as_slice());
        Ok(out)
    }

    /// Checks the parameters a server will accept: the algorithm, a cost between the floor and
    /// the ceiling, a 16-byte salt and a 32-byte hash.
    ///
    /// # Errors
    /// A sentence saying what is wrong.
    pub fn check(&self) -> Result<(), String> {
        if self.alg != "argon2id" {
            return Err("passcode.alg must be argon2id".into());
        }
        if !(PASSCODE_MIN_M_KIB..=PASSCODE_MAX_M_KIB).contains(&self.m) {
            return Err(format!(
                "passcode.m must be between {PASSCODE_MIN_M_KIB} and {PASSCODE_MAX_M_KIB} KiB"
            ));
        }
        if !(1..=PASSCODE_MAX_T).contains(&self.t)
            || self.t * self.m < PASSCODE_T * PASSCODE_MIN_M_KIB
        {
            return Err(format!(
                "passcode.t must be between 1 and {PASSCODE_MAX_T}, and t*m at least {}",
                PASSCODE_T * PASSCODE_MIN_M_KIB
            ));
        }
        if self.p != 1 {
            return Err("passcode.p must be 1".into());
        }
        if from_b64url(&self.salt).map(|s| s.len()) != Ok(16) {
            return Err("passcode.salt must be 16 bytes, base64url".into());
        }
        if from_b64url(&self.hash).map(|s| s.len()) != Ok(32) {
            return Err("passcode.hash must be 32 bytes, base64url".into());
        }
        Ok(())
    }

    fn compute(&self, passcode: &str) -> Result<Zeroizing<[u8; 32]>, ShlError> {
        let salt = from_b64url(&self.salt).map_err(|_| ShlError::Random)?;
        let params =
            argon2::Params::new(self.m, self.t, self.p, Some(32)).map_err(|_| ShlError::Random)?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passcode.as_bytes(), &salt, out.as_mut_slice())
            .map_err(|_| ShlError::Random)?;
        Ok(out)
    }

    /// True if `passcode` is the one hashed, compared in constant time. False for any
    /// parameter [`PasscodeHash::check`] refuses.
    #[must_use]
    pub fn verify(&self, passcode: &str) -> bool {
        if self.check().is_err() {
            return false;
        }
        let Ok(stored) = from_b64url(&self.hash) else {
            return false;
        };
        self.compute(passcode)
            .is_ok_and(|h| bool::from(h.as_slice().ct_eq(&stored)))
    }
}

/// FHIR read from one decrypted file.
#[derive(Clone, Debug, PartialEq)]
pub struct FhirContent {
    /// The FHIR resource (for a health card, its `fhirBundle`).
    pub resource: Value,
    /// For a resource from a SMART Health Card: the card's issuer (`iss`). Its signature is
    /// not verified.
    pub card_issuer: Option<String>,
}

/// Reads the FHIR in a decrypted file of content type `content_type` (the manifest's, else
/// the JWE's `cty`): a FHIR JSON resource is returned as it is; a SMART Health Card file gives
/// the bundle of each verifiable credential, read without verifying its signature. Anything
/// else is refused.
///
/// # Errors
/// [`ShlError::BadContent`]; [`ShlError::Unsupported`] for other content types.
pub fn read_fhir(content_type: &str, plaintext: &[u8]) -> Result<Vec<FhirContent>, ShlError> {
    let base = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        FHIR_JSON | "application/json" => {
            let resource: Value =
                serde_json::from_slice(plaintext).map_err(|_| ShlError::BadContent("FHIR JSON"))?;
            if resource
                .get("resourceType")
                .and_then(Value::as_str)
                .is_none()
            {
                return Err(ShlError::BadContent("FHIR JSON"));
            }
            Ok(vec![FhirContent {
                resource,
                card_issuer: None,
            }])
        }
        HEALTH_CARD => {
            let file: Value = serde_json::from_slice(plaintext)
                .map_err(|_| ShlError::BadContent("SMART Health Card"))?;
            let cards = file
                .get("verifiableCredential")
                .and_then(Value::as_array)
                .ok_or(ShlError::BadContent("SMART Health Card"))?;
            cards
                .iter()
                .map(|jws| {
                    let jws = jws
                        .as_str()
                        .ok_or(ShlError::BadContent("SMART Health Card"))?;
                    read_health_card(jws)
                })
                .collect()
        }
        other => Err(ShlError::Unsupported(format!("content type {other}"))),
    }
}

/// The content type a file gets in a link MedSeal makes: FHIR JSON (a JSON object with a
/// `resourceType`) or a SMART Health Card file (whose `verifiableCredential` cards all read).
/// `None` for anything else, which a SMART Health Link cannot carry.
#[must_use]
pub fn content_type_of(bytes: &[u8]) -> Option<&'static str> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    if value.get("resourceType").and_then(Value::as_str).is_some() {
        Some(FHIR_JSON)
    } else if value.get("verifiableCredential").is_some() {
        read_fhir(HEALTH_CARD, bytes).ok().map(|_| HEALTH_CARD)
    } else {
        None
    }
}

/// Most bytes a health card's payload may inflate to.
const CARD_MAX: usize = 4 << 20;

/// The bundle and issuer of one SMART Health Card JWS, whose payload is raw-DEFLATE
/// compressed JSON (`zip: DEF`). The signature is not checked.
///
/// # Errors
/// [`ShlError::BadContent`].
pub fn read_health_card(jws: &str) -> Result<FhirContent, ShlError> {
    let bad = || ShlError::BadContent("SMART Health Card");
    let mut parts = jws.trim().split('.');
    let (Some(header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let header: Value =
        serde_json::from_slice(&from_b64url(header).map_err(|_| bad())?).map_err(|_| bad())?;
    let raw = from_b64url(payload).map_err(|_| bad())?;
    let json = if header.get("zip").and_then(Value::as_str) == Some("DEF") {
        inflate(&raw, CARD_MAX)?
    } else {
        raw
    };
    let payload: Value = serde_json::from_slice(&json).map_err(|_| bad())?;
    let bundle = payload
        .pointer("/vc/credentialSubject/fhirBundle")
        .cloned()
        .ok_or_else(bad)?;
    Ok(FhirContent {
        resource: bundle,
        card_issuer: payload
            .get("iss")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_round_trips_and_sorts_flags() {
        let mut link = Link::generate("https://medseal.example/api/shl/abc").unwrap();
        link.set_flags("PL");
        link.exp = Some(1_900_000_000);
        link.label = Some("Lab results".into());
        assert_eq!(link.flag, "LP");
        let text = link.encode();
        assert!(text.starts_with(SCHEME));
        let back = Link::parse(&format!("https://viewer.example/#{text}")).unwrap();
        assert_eq!(back, link);
    }

    #[test]
    fn jwe_round_trips_with_and_without_deflate() {
        let key = [7u8; 32];
        for deflate in [false, true] {
            let jwe = encrypt(&key, b"{\"resourceType\":\"Patient\"}", FHIR_JSON, deflate).unwrap();
            let opened = decrypt(&key, &jwe, 1 << 20).unwrap();
            assert_eq!(opened.plaintext, b"{\"resourceType\":\"Patient\"}");
            assert_eq!(opened.content_type.as_deref(), Some(FHIR_JSON));
            assert_eq!(decrypt(&[8u8; 32], &jwe, 1 << 20), Err(ShlError::Decrypt));
        }
    }

    #[test]
    fn two_encryptions_never_share_an_iv() {
        let key = [1u8; 32];
        let a = encrypt(&key, b"x", FHIR_JSON, false).unwrap();
        let b = encrypt(&key, b"x", FHIR_JSON, false).unwrap();
        assert_ne!(a.split('.').nth(2), b.split('.').nth(2));
    }

    #[test]
    fn inflation_is_bounded() {
        let key = [3u8; 32];
        let big = vec![b'a'; 1 << 20];
        let jwe = encrypt(&key, &big, FHIR_JSON, true).unwrap();
        assert!(
            jwe.len() < 10_000,
            "a megabyte of one letter compresses well"
        );
        assert_eq!(decrypt(&key, &jwe, 1000), Err(ShlError::Inflate(1000)));
    }

    #[test]
    fn passcode_hash_verifies_and_checks_its_cost() {
        let h = PasscodeHash::new("1234").unwrap();
        assert!(h.check().is_ok());
        assert!(h.verify("1234"));
        assert!(!h.verify("1235"));
        let weak = PasscodeHash { m: 8, ..h.clone() };
        assert!(weak.check().is_err());
        assert!(!weak.verify("1234"));
        let costly = PasscodeHash { t: 100, ..h };
        assert!(costly.check().is_err());
    }
}
