//! Research studies: the description a researcher signs and publishes, the links that pin the
//! researcher's key, the policy patients' browsers mask with, the per-study pseudonym key, and
//! the server's bundle framing.
//!
//! Trust: the server stores and serves the signed description, but a patient's browser trusts
//! it only if the key that verifies its signature has the fingerprint carried in the
//! contribution link's fragment (which the server never sees). [`verify_study`] makes every
//! check.

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::io::Read as _;

use crate::mask::{FreeText, Method, Policy, PseudonymKey};
use crate::pki::{Fingerprint, PrivateKey, PublicKey, SignatureError};

/// The context string of study signatures (FORMAT.md section 7).
pub const STUDY_CONTEXT: &str = "medseal/v1 study";
/// The `format` member of a study description.
pub const STUDY_FORMAT: &str = "medseal-study";
/// The study description version this code writes and reads.
pub const STUDY_VERSION: u32 = 1;
/// The smallest k a study may ask for in its risk report.
pub const MIN_K: u32 = 2;
/// The largest k a study may ask for.
pub const MAX_K: u32 = 100;
/// HKDF salt of per-study pseudonym keys.
const PSEUDONYM_SALT: &[u8] = b"medseal/v1 study pseudonym key";
/// Domain label of study ids: `id = base64url(SHA-256(label || 00 || canonical_json(description))[..16])`.
pub const STUDY_ID_LABEL: &str = "medseal/v1 study id";

/// The identifier of a study: the first 128 bits of SHA-256 over [`STUDY_ID_LABEL`], a zero
/// byte and the canonical JSON of the description (FORMAT.md section 7), as 22 base64url
/// characters. The server derives a study's id this way when it is created, and every client
/// recomputes it from the description it is served, so a server cannot answer one study's id
/// with another study's description, even one signed by the same researcher key.
///
/// # Errors
/// [`StudyError::Malformed`] if the description cannot be written canonically.
pub fn study_id_of(description: &serde_json::Value) -> Result<String, StudyError> {
    let canonical = crate::pki::canonical_json(description)
        .map_err(|_| StudyError::Malformed("not canonical JSON".into()))?;
    let mut h = Sha256::new();
    h.update(STUDY_ID_LABEL.as_bytes());
    h.update([0u8]);
    h.update(&canonical);
    let digest = h.finalize();
    Ok(crate::id::b64url(&digest[..16]))
}

/// How dates are kept in contributions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DateOption {
    /// Dates keep only the year (HIPAA Safe Harbor).
    #[default]
    Year,
    /// Dates move by one secret offset per patient, so intervals survive. Beyond Safe Harbor:
    /// it needs an expert determination.
    Shift,
}

/// How addresses are kept in contributions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressOption {
    /// State, country and the three-digit ZIP prefix (HIPAA Safe Harbor).
    #[default]
    Zip3,
    /// Addresses removed entirely.
    Remove,
}

/// The masking policy of a study: Safe Harbor with the options a researcher may choose. A
/// patient's browser builds the policy itself from these choices ([`StudyPolicy::to_policy`]),
/// so a study can never ask for a policy that keeps identifiers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyPolicy {
    /// The base policy; only `safe-harbor` exists.
    pub base: String,
    /// Dates.
    #[serde(default)]
    pub dates: DateOption,
    /// Addresses.
    #[serde(default)]
    pub addresses: AddressOption,
    /// Notes and narratives: scrubbed of identifiers (the default, not written) or removed.
    #[serde(default, skip_serializing_if = "FreeText::is_scrub")]
    pub free_text: FreeText,
}

impl StudyPolicy {
    /// Safe Harbor with its defaults.
    #[must_use]
    pub fn safe_harbor() -> Self {
        Self {
            base: "safe-harbor".into(),
            dates: DateOption::Year,
            addresses: AddressOption::Zip3,
            free_text: FreeText::Scrub,
        }
    }

    /// The masking policy these choices mean.
    ///
    /// # Errors
    /// [`StudyError::Policy`] for an unknown base.
    pub fn to_policy(&self) -> Result<Policy, StudyError> {
        let mut policy = Policy::builtin(&self.base)
            .ok_or_else(|| StudyError::Policy(format!("unknown policy {:?}", self.base)))?;
        if self.dates == DateOption::Shift {
            for rule in policy.rules.iter_mut().filter(|r| r.id == "dates") {
                rule.method = Method::DateShift;
                rule.description = Some(
                    "All other dates are moved by one secret number of days, the same for all \
                     your records, so the time between events is kept but not the real dates."
                        .into(),
                );
            }
            policy.name = format!("{}+date-shift", policy.name);
        }
        if self.addresses == AddressOption::Remove {
            for rule in policy.rules.iter_mut().filter(|r| r.id == "addresses") {
                rule.method = Method::Redact;
                rule.description = Some("Addresses are removed entirely.".into());
            }
            policy.name = format!("{}+no-address", policy.name);
        }
        if self.free_text == FreeText::Remove {
            policy.text.free_text = FreeText::Remove;
            policy.name = format!("{}+no-free-text", policy.name);
        }
        policy
            .validate()
            .map_err(|e| StudyError::Policy(e.to_string()))?;
        Ok(policy)
    }

    /// The policy's identifier as recorded in contributions, such as `safe-harbor@1`.
    ///
    /// # Errors
    /// As [`Self::to_policy`].
    pub fn label(&self) -> Result<String, StudyError> {
        let p = self.to_policy()?;
        Ok(format!("{}@{}", p.name, p.version))
    }
}

/// What a researcher publishes about a study. Signed as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyDescription {
    /// Always [`STUDY_FORMAT`].
    pub format: String,
    /// Always [`STUDY_VERSION`].
    pub version: u32,
    /// The study's title.
    pub title: String,
    /// What the data is for, in plain words.
    pub purpose: String,
    /// Who runs the study.
    pub institution: String,
    /// How to reach the researcher.
    pub contact: String,
    /// Contributions close at this time, Unix seconds.
    pub closes_at: u64,
    /// The masking policy.
    pub policy: StudyPolicy,
    /// The smallest group size the risk report accepts.
    pub min_k: u32,
    /// The researcher's key: base64url SHA-256 of its DER SubjectPublicKeyInfo.
    pub key_fingerprint: String,
    /// When the description was made, Unix seconds.
    pub created_at: u64,
    /// 128 random bits (base64url), so two otherwise equal studies differ.
    pub nonce: String,
}

/// A description and its signature, as posted to and served by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedStudy {
    /// The description, as JSON (verified over its canonical form).
    pub description: serde_json::Value,
    /// RSA-PSS-SHA256 signature, base64url.
    pub signature: String,
}

/// Why a study was refused or could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StudyError {
    /// A field is missing or out of bounds.
    #[error("the study is incomplete: {0}")]
    Invalid(String),
    /// The policy cannot be built.
    #[error("the study's masking policy is not usable: {0}")]
    Policy(String),
    /// The link's fingerprint is malformed.
    #[error("the contribution link is damaged: the key fingerprint after # is not readable")]
    BadLink,
    /// The key the server served does not have the fingerprint the link pins.
    #[error(
        "the server sent a researcher key that does not match the key in your link: \
         this study may have been tampered with"
    )]
    KeyMismatch,
    /// The description names a key other than the link's.
    #[error(
        "the study description names a different researcher key than your link: \
         this study may have been tampered with"
    )]
    DescriptionKeyMismatch,
    /// The description served is not the one the study id was derived from.
    #[error(
        "the server sent the description of another study than the one in your link: \
         this study may have been tampered with"
    )]
    WrongStudy,
    /// The signature does not verify.
    #[error(
        "the study's signature is not valid for the researcher's key: \
         this study may have been tampered with"
    )]
    BadSignature,
    /// The description is not JSON of the expected shape.
    #[error("the study description cannot be read: {0}")]
    Malformed(String),
    /// The key could not be read.
    #[error("the researcher's key cannot be read")]
    BadKey,
    /// Signing failed.
    #[error("signing the study failed")]
    Sign,
}

impl StudyDescription {
    /// Checks the fields a patient and the server rely on.
    ///
    /// # Errors
    /// [`StudyError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<(), StudyError> {
        let invalid = |m: &str| Err(StudyError::Invalid(m.to_owned()));
        if self.format != STUDY_FORMAT {
            return invalid("not a MedSeal study description");
        }
        if self.version != STUDY_VERSION {
            return invalid("unknown study description version");
        }
        for (name, value, max) in [
            ("title", &self.title, 200),
            ("purpose", &self.purpose, 5000),
            ("institution", &self.institution, 200),
            ("contact", &self.contact, 200),
        ] {
            if value.trim().is_empty() {
                return Err(StudyError::Invalid(format!("the {name} is empty")));
            }
            if value.chars().count() > max {
                return Err(StudyError::Invalid(format!(
                    "the {name} is longer than {max} characters"
                )));
            }
        }
        if !(MIN_K..=MAX_K).contains(&self.min_k) {
            return Err(StudyError::Invalid(format!(
                "k must be between {MIN_K} and {MAX_K}"
            )));
        }
        if self.closes_at <= self.created_at {
            return invalid("the closing date must be after today");
        }
        Fingerprint::parse(&self.key_fingerprint).map_err(|_| StudyError::BadLink)?;
        self.policy.to_policy()?;
        Ok(())
    }

    /// Signs the description with the researcher's key.
    ///
    /// # Errors
    /// [`StudyError::Invalid`] if the description is incomplete or names another key,
    /// [`StudyError::Sign`] if signing fails.
    pub fn sign(&self, key: &PrivateKey) -> Result<SignedStudy, StudyError> {
        self.validate()?;
        if self.key_fingerprint != key.public_key().fingerprint().to_b64url() {
            return Err(StudyError::Invalid(
                "the description names another key than the signing key".into(),
            ));
        }
        let description =
            serde_json::to_value(self).map_err(|e| StudyError::Malformed(e.to_string()))?;
        let signature = key
            .sign_canonical(STUDY_CONTEXT, &description)
            .map_err(|_| StudyError::Sign)?;
        Ok(SignedStudy {
            description,
            signature: crate::id::b64url(&signature),
        })
    }
}

/// Checks that the key bytes a server served (DER SubjectPublicKeyInfo) hash to the
/// fingerprint a link pins (base64url or hex), and reads the key.
///
/// # Errors
/// [`StudyError::BadLink`] for an unreadable pin, [`StudyError::KeyMismatch`] if the bytes do
/// not hash to it, [`StudyError::BadKey`] if they are not an acceptable RSA key.
pub fn check_pinned_key(spki_der: &[u8], pinned: &str) -> Result<PublicKey, StudyError> {
    let pinned = Fingerprint::parse(pinned).map_err(|_| StudyError::BadLink)?;
    let served: [u8; 32] = Sha256::digest(spki_der).into();
    if served != pinned.0 {
        return Err(StudyError::KeyMismatch);
    }
    PublicKey::from_spki_der(spki_der).map_err(|_| StudyError::BadKey)
}

/// Checks a study as a patient's browser must, before showing it: the key the server served
/// (`spki_der`) has the fingerprint the link pins (`pinned`, base64url from the fragment), the
/// description names that key, the signature verifies, and the description is the one the
/// study id (`study_id`, from the link) was derived from ([`study_id_of`]). Returns the
/// description.
///
/// # Errors
/// A [`StudyError`] naming the first check that failed.
pub fn verify_study(
    study_id: &str,
    signed_json: &[u8],
    spki_der: &[u8],
    pinned: &str,
) -> Result<StudyDescription, StudyError> {
    let key = check_pinned_key(spki_der, pinned)?;
    let pinned = key.fingerprint();
    let signed: SignedStudy =
        serde_json::from_slice(signed_json).map_err(|e| StudyError::Malformed(e.to_string()))?;
    let named = signed
        .description
        .get("key_fingerprint")
        .and_then(serde_json::Value::as_str)
        .and_then(|t| Fingerprint::parse(t).ok());
    if named != Some(pinned) {
        return Err(StudyError::DescriptionKeyMismatch);
    }
    let signature =
        crate::id::from_b64url(signed.signature.trim()).map_err(|_| StudyError::BadSignature)?;
    key.verify_canonical(STUDY_CONTEXT, &signed.description, &signature)
        .map_err(|e| match e {
            SignatureError::Encode => StudyError::Malformed("not canonical JSON".into()),
            _ => StudyError::BadSignature,
        })?;
    if study_id_of(&signed.description)? != study_id {
        return Err(StudyError::WrongStudy);
    }
    let description: StudyDescription = serde_json::from_value(signed.description)
        .map_err(|e| StudyError::Malformed(e.to_string()))?;
    description.validate()?;
    Ok(description)
}

/// The pseudonym key a patient uses in one study: HKDF-SHA256 of the patient's own secret
/// (32 random bytes kept in their browser, never sent anywhere) with the study id as info.
/// The same patient gets the same pseudonyms within a study, so their records link; another
/// study gets an unrelated key, so nothing links across studies; without the secret, neither
/// the server nor the researcher can compute or reverse a pseudonym.
///
/// # Errors
/// [`StudyError::Invalid`] if the secret is shorter than 32 bytes.
pub fn study_pseudonym_key(
    patient_secret: &[u8],
    study_id: &str,
) -> Result<PseudonymKey, StudyError> {
    if patient_secret.len() < 32 {
        return Err(StudyError::Invalid(
            "the patient secret is too short".into(),
        ));
    }
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(PSEUDONYM_SALT), patient_secret)
        .expand(study_id.as_bytes(), out.as_mut_slice())
        .map_err(|_| StudyError::Invalid("key derivation failed".into()))?;
    PseudonymKey::from_bytes(out.as_slice()).map_err(|e| StudyError::Invalid(e.to_string()))
}

/// The contribution link: `{origin}/c/{study_id}#{fingerprint}`.
#[must_use]
pub fn contribution_link(origin: &str, study_id: &str, fingerprint: &Fingerprint) -> String {
    format!("{origin}/c/{study_id}#{}", fingerprint.to_b64url())
}

/// The researcher's admin link: `{origin}/study/{study_id}#{admin_token}`.
#[must_use]
pub fn admin_link(origin: &str, study_id: &str, admin_token: &str) -> String {
    format!("{origin}/study/{study_id}#{admin_token}")
}

/// The patient's withdraw link: `{origin}/withdraw/{study_id}/{contribution_id}#{token}`.
#[must_use]
pub fn withdraw_link(origin: &str, study_id: &str, contribution_id: &str, token: &str) -> String {
    format!("{origin}/withdraw/{study_id}/{contribution_id}#{token}")
}

/// The first bytes of a bundle served by `GET /api/studies/{sid}/bundle`.
pub const BUNDLE_MAGIC: &[u8; 16] = b"MEDSEAL-BUNDLE1\n";

/// One contribution in a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleItem<'a> {
    /// The contribution's identifier.
    pub id: String,
    /// When its upload was created, Unix seconds.
    pub created_at: u64,
    /// Its ciphertext (a MedSeal container).
    pub ciphertext: &'a [u8],
}

/// Why a bundle could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    /// No bundle magic.
    #[error("this is not a MedSeal study bundle")]
    NotABundle,
    /// The bundle ends early (the download was cut off).
    #[error("the bundle is incomplete: the download was cut off")]
    Truncated,
    /// Lengths or identifiers are wrong, or bytes follow the end marker.
    #[error("the bundle is malformed")]
    Malformed,
    /// Reading the bundle failed.
    #[error("the bundle could not be read: {0}")]
    Io(String),
    /// One contribution is larger than the reader accepts.
    #[error("a contribution of {0} bytes is larger than this reader accepts")]
    TooLarge(u64),
}

/// Reads a bundle from a stream one contribution at a time, in the framing of
/// [`parse_bundle`], so that a study of any size is read in the memory of its largest
/// contribution. After the last contribution it checks the end marker and that nothing follows.
pub struct BundleStream<R: std::io::Read> {
    input: R,
    left: Option<u32>,
    max_item: u64,
    done: bool,
}

/// One contribution read by [`BundleStream`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedBundleItem {
    /// The contribution's identifier.
    pub id: String,
    /// When its upload was created, Unix seconds.
    pub created_at: u64,
    /// Its ciphertext.
    pub ciphertext: Vec<u8>,
}

impl OwnedBundleItem {
    /// The item as [`parse_bundle`] gives it.
    #[must_use]
    pub fn borrow(&self) -> BundleItem<'_> {
        BundleItem {
            id: self.id.clone(),
            created_at: self.created_at,
            ciphertext: &self.ciphertext,
        }
    }
}

impl<R: std::io::Read> BundleStream<R> {
    /// A reader of `input` that refuses contributions over `max_item` bytes.
    pub fn new(input: R, max_item: u64) -> Self {
        Self {
            input,
            left: None,
            max_item,
            done: false,
        }
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), BundleError> {
        self.input.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => BundleError::Truncated,
            _ => BundleError::Io(e.to_string()),
        })
    }

    /// The number of contributions the bundle announces (reads the header on first use).
    ///
    /// # Errors
    /// [`BundleError`].
    pub fn count(&mut self) -> Result<u32, BundleError> {
        if let Some(n) = self.left {
            return Ok(n);
        }
        let mut magic = [0u8; 16];
        self.exact(&mut magic).map_err(|e| {
            if e == BundleError::Truncated {
                BundleError::NotABundle
            } else {
                e
            }
        })?;
        if &magic != BUNDLE_MAGIC {
            return Err(BundleError::NotABundle);
        }
        let mut n = [0u8; 4];
        self.exact(&mut n)?;
        let n = u32::from_be_bytes(n);
        self.left = Some(n);
        Ok(n)
    }

    /// The next contribution, or `None` after the last one and a valid end.
    ///
    /// # Errors
    /// [`BundleError`].
    pub fn next_item(&mut self) -> Result<Option<OwnedBundleItem>, BundleError> {
        if self.done {
            return Ok(None);
        }
        let left = self.count()?;
        if left == 0 {
            let mut end = [0u8; 1];
            self.exact(&mut end)?;
            if end[0] != 0 {
                return Err(BundleError::Malformed);
            }
            let mut more = [0u8; 1];
            return match self.input.read(&mut more) {
                Ok(0) => {
                    self.done = true;
                    Ok(None)
                }
                Ok(_) => Err(BundleError::Malformed),
                Err(e) => Err(BundleError::Io(e.to_string())),
            };
        }
        let mut len = [0u8; 1];
        self.exact(&mut len)?;
        let mut id = vec![0u8; usize::from(len[0])];
        self.exact(&mut id)?;
        let id = String::from_utf8(id).map_err(|_| BundleError::Malformed)?;
        if !crate::id::is_object_id(&id) {
            return Err(BundleError::Malformed);
        }
        let mut word = [0u8; 8];
        self.exact(&mut word)?;
        let created_at = u64::from_be_bytes(word);
        self.exact(&mut word)?;
        let size = u64::from_be_bytes(word);
        if size > self.max_item {
            return Err(BundleError::TooLarge(size));
        }
        // Grown as the bytes arrive: a size the stream does not hold costs no memory.
        let mut ciphertext = Vec::new();
        let got = std::io::Read::take(&mut self.input, size)
            .read_to_end(&mut ciphertext)
            .map_err(|e| BundleError::Io(e.to_string()))?;
        if got as u64 != size {
            return Err(BundleError::Truncated);
        }
        self.left = Some(left - 1);
        Ok(Some(OwnedBundleItem {
            id,
            created_at,
            ciphertext,
        }))
    }
}

/// Splits a bundle into its contributions. Framing (big-endian): magic, u32 count, then per
/// contribution u8 id length, id (ASCII), u64 created_at, u64 size, ciphertext; then a u8 0.
///
/// # Errors
/// [`BundleError`].
pub fn parse_bundle(bytes: &[u8]) -> Result<Vec<BundleItem<'_>>, BundleError> {
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], BundleError> {
        if rest.len() < n {
            return Err(BundleError::Truncated);
        }
        let (head, tail) = rest.split_at(n);
        *rest = tail;
        Ok(head)
    }
    fn u64_of(b: &[u8]) -> Result<u64, BundleError> {
        Ok(u64::from_be_bytes(
            b.try_into().map_err(|_| BundleError::Malformed)?,
        ))
    }
    let mut rest = bytes
        .strip_prefix(BUNDLE_MAGIC.as_slice())
        .ok_or(BundleError::NotABundle)?;
    let count = u32::from_be_bytes(
        take(&mut rest, 4)?
            .try_into()
            .map_err(|_| BundleError::Malformed)?,
    );
    let mut items = Vec::new();
    for _ in 0..count {
        let id_len = take(&mut rest, 1)?[0] as usize;
        let id =
            std::str::from_utf8(take(&mut rest, id_len)?).map_err(|_| BundleError::Malformed)?;
        if !crate::id::is_object_id(id) {
            return Err(BundleError::Malformed);
        }
        let created_at = u64_of(take(&mut rest, 8)?)?;
        let size =
            usize::try_from(u64_of(take(&mut rest, 8)?)?).map_err(|_| BundleError::Malformed)?;
        let ciphertext = take(&mut rest, size)?;
        items.push(BundleItem {
            id: id.to_owned(),
            created_at,
            ciphertext,
        });
    }
    match rest {
        [0] => Ok(items),
        [] => Err(BundleError::Truncated),
        _ => Err(BundleError::Malformed),
    }
}

/// Writes a bundle in the server's framing (for tests and tools).
#[must_use]
pub fn write_bundle(items: &[BundleItem<'_>]) -> Vec<u8> {
    let mut out = BUNDLE_MAGIC.to_vec();
    out.extend_from_slice(&(items.len() as u32).to_be_bytes());
    for item in items {
        out.push(item.id.len() as u8);
        out.extend_from_slice(item.id.as_bytes());
        out.extend_from_slice(&item.created_at.to_be_bytes());
        out.extend_from_slice(&(item.ciphertext.len() as u64).to_be_bytes());
        out.extend_from_slice(item.ciphertext);
    }
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PrivateKey {
        PrivateKey::from_pem(include_str!("../tests/data/rsa3072.pem")).expect("test key")
    }

    fn description(k: &PrivateKey) -> StudyDescription {
        StudyDescription {
            format: STUDY_FORMAT.into(),
            version: STUDY_VERSION,
            title: "Asthma and air".into(),
            purpose: "Link asthma visits to air quality.".into(),
            institution: "Example University".into(),
            contact: "study@example.org".into(),
            closes_at: 2_000_000_000,
            policy: StudyPolicy::safe_harbor(),
            min_k: 5,
            key_fingerprint: k.public_key().fingerprint().to_b64url(),
            created_at: 1_700_000_000,
            nonce: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        }
    }

    #[test]
    fn a_signed_study_verifies_against_the_pinned_key_and_fails_otherwise() {
        let k = key();
        let d = description(&k);
        let signed = d.sign(&k).expect("sign");
        let json = serde_json::to_vec(&signed).expect("json");
        let der = k.public_key().to_spki_der().expect("der");
        let pin = k.public_key().fingerprint().to_b64url();
        let sid = study_id_of(&signed.description).expect("id");
        assert!(crate::id::is_object_id(&sid));
        assert_eq!(verify_study(&sid, &json, &der, &pin), Ok(d.clone()));

        // A served key other than the pinned one.
        let mut other = der.clone();
        let last = other.len() - 3;
        other[last] ^= 1;
        assert_eq!(
            verify_study(&sid, &json, &other, &pin),
            Err(StudyError::KeyMismatch)
        );
        // A pin of another key, with the served key matching that pin.
        assert_eq!(
            verify_study(&sid, &json, &der, &crate::id::b64url(&[7; 32])),
            Err(StudyError::KeyMismatch)
        );
        // A changed description.
        let mut changed = signed.clone();
        changed.description["title"] = "Something else".into();
        let json2 = serde_json::to_vec(&changed).expect("json");
        assert_eq!(
            verify_study(&sid, &json2, &der, &pin),
            Err(StudyError::BadSignature)
        );
        // A damaged link.
        assert_eq!(
            verify_study(&sid, &json, &der, "xyz"),
            Err(StudyError::BadLink)
        );
    }

    #[test]
    fn another_study_signed_by_the_same_key_is_refused_for_this_id() {
        // A server answering study A's id with study B's description (both validly signed by
        // the researcher's key) is caught: the id is derived from the description.
        let k = key();
        let a = description(&k).sign(&k).expect("sign");
        let mut b = description(&k);
        b.title = "Another study".into();
        b.nonce = "BBBBBBBBBBBBBBBBBBBBBB".into();
        let b = b.sign(&k).expect("sign");
        let der = k.public_key().to_spki_der().expect("der");
        let pin = k.public_key().fingerprint().to_b64url();
        let a_id = study_id_of(&a.description).expect("id");
        let b_id = study_id_of(&b.description).expect("id");
        assert_ne!(a_id, b_id);
        let b_json = serde_json::to_vec(&b).expect("json");
        assert_eq!(
            verify_study(&a_id, &b_json, &der, &pin),
            Err(StudyError::WrongStudy)
        );
        assert!(verify_study(&b_id, &b_json, &der, &pin).is_ok());
        // Member order does not change the id (it is over the canonical form).
        let text = serde_json::to_string(&b.description).expect("json");
        let reparsed: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(study_id_of(&reparsed).expect("id"), b_id);
    }

    #[test]
    fn the_signature_matches_the_servers_canonical_form() {
        // Key order in the posted JSON does not matter: the canonical form sorts them.
        let k = key();
        let signed = description(&k).sign(&k).expect("sign");
        let text = serde_json::to_string(&signed).expect("json");
        let reparsed: serde_json::Value = serde_json::from_str(&text).expect("json");
        let bytes = crate::pki::signed_bytes(STUDY_CONTEXT, &reparsed["description"]).expect("b");
        let sig = crate::id::from_b64url(&signed.signature).expect("sig");
        k.public_key().verify_pss(&bytes, &sig).expect("verifies");
    }

    #[test]
    fn pseudonym_keys_link_within_a_study_and_not_across() {
        let secret = [9u8; 32];
        let a1 = study_pseudonym_key(&secret, "study-a").expect("k");
        let a2 = study_pseudonym_key(&secret, "study-a").expect("k");
        let b = study_pseudonym_key(&secret, "study-b").expect("k");
        let other = study_pseudonym_key(&[8u8; 32], "study-a").expect("k");
        assert_eq!(a1.pseudonym("p1"), a2.pseudonym("p1"));
        assert_ne!(a1.pseudonym("p1"), b.pseudonym("p1"));
        assert_ne!(a1.pseudonym("p1"), other.pseudonym("p1"));
        assert!(study_pseudonym_key(&[1; 8], "s").is_err());
    }

    #[test]
    fn policy_options_build_valid_policies() {
        for dates in [DateOption::Year, DateOption::Shift] {
            for addresses in [AddressOption::Zip3, AddressOption::Remove] {
                for free_text in [FreeText::Scrub, FreeText::Remove] {
                    let p = StudyPolicy {
                        base: "safe-harbor".into(),
                        dates,
                        addresses,
                        free_text,
                    };
                    let policy = p.to_policy().expect("valid");
                    assert_eq!(policy.text.free_text, free_text);
                }
            }
        }
        let remove = StudyPolicy {
            free_text: FreeText::Remove,
            ..StudyPolicy::safe_harbor()
        };
        assert_eq!(remove.label().expect("l"), "safe-harbor+no-free-text@1");
        // The default is not written, so descriptions (and study ids) made before the option
        // existed are unchanged; the choice round-trips.
        let json = serde_json::to_value(StudyPolicy::safe_harbor()).expect("json");
        assert!(json.get("free_text").is_none());
        let json = serde_json::to_string(&remove).expect("json");
        assert!(json.contains(r#""free_text":"remove""#));
        assert_eq!(
            serde_json::from_str::<StudyPolicy>(&json).expect("parse"),
            remove
        );
        assert!(
            serde_json::from_str::<StudyPolicy>(r#"{"base":"safe-harbor","free_text":"delete"}"#)
                .is_err()
        );
        assert_eq!(
            StudyPolicy::safe_harbor().label().expect("l"),
            "safe-harbor@1"
        );
        let bad = StudyPolicy {
            base: "keep-all".into(),
            ..StudyPolicy::safe_harbor()
        };
        assert!(bad.to_policy().is_err());
    }

    /// Two contributions, one of them empty.
    fn two_items() -> Vec<BundleItem<'static>> {
        vec![
            BundleItem {
                id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
                created_at: 5,
                ciphertext: b"abc",
            },
            BundleItem {
                id: "BBBBBBBBBBBBBBBBBBBBBB".into(),
                created_at: 6,
                ciphertext: b"",
            },
        ]
    }

    #[test]
    fn bundles_round_trip_and_cut_off_bundles_fail() {
        let items = two_items();
        let bytes = write_bundle(&items);
        assert_eq!(parse_bundle(&bytes), Ok(items));
        assert_eq!(
            parse_bundle(&bytes[..bytes.len() - 1]),
            Err(BundleError::Truncated)
        );
        let mut extra = bytes.clone();
        extra.push(1);
        assert_eq!(parse_bundle(&extra), Err(BundleError::Malformed));
        assert_eq!(parse_bundle(b"nope"), Err(BundleError::NotABundle));
    }

    /// Reads a whole bundle with [`BundleStream`], as `medseal bundle` does.
    fn stream_all(bytes: &[u8], max_item: u64) -> Result<Vec<OwnedBundleItem>, BundleError> {
        let mut stream = BundleStream::new(bytes, max_item);
        let mut out = Vec::new();
        while let Some(item) = stream.next_item()? {
            out.push(item);
        }
        assert_eq!(stream.next_item(), Ok(None), "ended for good");
        Ok(out)
    }

    #[test]
    fn a_streamed_bundle_reads_as_the_parsed_one_and_fails_as_it_does() {
        let items = two_items();
        let bytes = write_bundle(&items);
        let streamed = stream_all(&bytes, 1 << 20).unwrap();
        assert_eq!(
            streamed
                .iter()
                .map(OwnedBundleItem::borrow)
                .collect::<Vec<_>>(),
            items
        );
        // Cut anywhere, it is truncated; a byte after the end, malformed; no magic, not a bundle.
        for cut in 16..bytes.len() {
            assert_eq!(
                stream_all(&bytes[..cut], 1 << 20),
                Err(BundleError::Truncated),
                "cut at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(1);
        assert_eq!(stream_all(&extra, 1 << 20), Err(BundleError::Malformed));
        assert_eq!(stream_all(b"nope", 1 << 20), Err(BundleError::NotABundle));
        assert_eq!(stream_all(&bytes, 2), Err(BundleError::TooLarge(3)));
        // A size the stream does not hold is refused without allocating it.
        let mut huge = BUNDLE_MAGIC.to_vec();
        huge.extend_from_slice(&1u32.to_be_bytes());
        huge.push(22);
        huge.extend_from_slice(b"CCCCCCCCCCCCCCCCCCCCCC");
        huge.extend_from_slice(&7u64.to_be_bytes());
        huge.extend_from_slice(&(u64::MAX / 2).to_be_bytes());
        huge.extend_from_slice(b"short");
        assert_eq!(stream_all(&huge, u64::MAX), Err(BundleError::Truncated));
    }
}
