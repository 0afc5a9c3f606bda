//! SMART Health Links against the specification's own examples (`core/tests/data/shl`).

use medseal_core::shl::{self, Link, ShlError};

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/shl/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_specification_example_link_parses() {
    let link = Link::parse(&data("example-link.txt")).unwrap();
    assert_eq!(
        link.url,
        "https://ehr.example.org/qr/Y9xwkUdtmN9wwoJoN3ffJIhX2UGvCL1JnlPVNL3kDWM/m"
    );
    assert_eq!(link.flag, "LP");
    assert!(link.has_flag('P') && link.has_flag('L') && !link.has_flag('U'));
    assert_eq!(
        medseal_core::id::b64url(link.key.as_slice()),
        "rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q"
    );
    assert_eq!(
        link.display_label().as_deref(),
        Some("Back-to-school immunizations for Oliver Brown")
    );
    // With a viewer prefix it is the same link.
    let viewer = format!(
        "https://viewer.example.org#{}",
        data("example-link.txt").trim()
    );
    assert_eq!(Link::parse(&viewer).unwrap(), link);
}

#[test]
fn the_specification_example_jwe_decrypts_to_its_file() {
    let key: [u8; 32] =
        medseal_core::id::from_b64url("rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q")
            .unwrap()
            .try_into()
            .unwrap();
    let opened = shl::decrypt(&key, &data("example-encrypted.jwe"), 1 << 20).unwrap();
    assert_eq!(opened.content_type.as_deref(), Some(shl::HEALTH_CARD));
    assert_eq!(
        opened.plaintext,
        data("example-00-e-file.smart-health-card").as_bytes()
    );
    // One altered character of the ciphertext is refused.
    let jwe = data("example-encrypted.jwe");
    let mut parts: Vec<String> = jwe.trim().split('.').map(str::to_owned).collect();
    let flipped = if parts[3].starts_with('a') { "b" } else { "a" };
    parts[3].replace_range(0..1, flipped);
    assert_eq!(
        shl::decrypt(&key, &parts.join("."), 1 << 20),
        Err(ShlError::Decrypt)
    );
}

#[test]
fn the_example_health_card_gives_its_bundle_unverified() {
    let file = data("example-00-e-file.smart-health-card");
    let content = shl::read_fhir(shl::HEALTH_CARD, file.as_bytes()).unwrap();
    assert_eq!(content.len(), 1);
    assert_eq!(content[0].resource["resourceType"], "Bundle");
    assert_eq!(
        content[0].card_issuer.as_deref(),
        Some("https://spec.smarthealth.cards/examples/issuer")
    );
    let types: Vec<&str> = content[0].resource["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["Patient", "Immunization", "Immunization", "Immunization"]
    );
}

#[test]
fn parsing_is_lenient_where_the_specification_asks_and_strict_elsewhere() {
    let enc = |json: &str| format!("shlink:/{}", medseal_core::id::b64url(json.as_bytes()));
    let key = "rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q";
    // `exp` as a string, unknown fields and flags, `v: 1`.
    let link = Link::parse(&enc(&format!(
        r#"{{"url":"https://x.example/m","key":"{key}","exp":"1700000000","flag":"LXZ","v":1,"_ext":{{"a":1}},"extension":[]}}"#
    )))
    .unwrap();
    assert_eq!(link.exp, Some(1_700_000_000));
    assert!(link.expired(1_700_000_000) && !link.expired(1_699_999_999));
    // A newer version is refused before any request.
    assert_eq!(
        Link::parse(&enc(&format!(
            r#"{{"url":"https://x.example/m","key":"{key}","v":2}}"#
        ))),
        Err(ShlError::NewerVersion(2))
    );
    for bad in [
        r#"{"url":"https://x.example/m"}"#.to_owned(),
        format!(r#"{{"url":"ftp://x.example/m","key":"{key}"}}"#),
        r#"{"url":"https://x.example/m","key":"c2hvcnQ"}"#.to_owned(),
        format!(r#"{{"url":"https://x.example/m","key":"{key}","flag":"PU"}}"#),
        "[1,2]".to_owned(),
    ] {
        assert!(
            matches!(Link::parse(&enc(&bad)), Err(ShlError::BadPayload(_))),
            "{bad}"
        );
    }
    assert_eq!(Link::parse("https://example.org/"), Err(ShlError::NotALink));
}

#[test]
fn files_of_other_kinds_and_algorithms_are_refused_clearly() {
    let key = [9u8; 32];
    let jwe = shl::encrypt(&key, b"{}", shl::API_ACCESS, false).unwrap();
    let opened = shl::decrypt(&key, &jwe, 1024).unwrap();
    assert!(matches!(
        shl::read_fhir(shl::API_ACCESS, &opened.plaintext),
        Err(ShlError::Unsupported(_))
    ));
    // A header naming another algorithm.
    let header = medseal_core::id::b64url(br#"{"alg":"A256KW","enc":"A256GCM"}"#);
    let rest: Vec<&str> = jwe.splitn(2, '.').collect();
    assert_eq!(
        shl::decrypt(&key, &format!("{header}.{}", rest[1]), 1024),
        Err(ShlError::Unsupported("alg A256KW".into()))
    );
    assert!(matches!(
        shl::decrypt(&key, "a.b.c", 1024),
        Err(ShlError::BadJwe(_))
    ));
}
