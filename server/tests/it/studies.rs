//! Public keys, studies, contributions and the bundle.

use std::sync::OnceLock;

use axum::body::Body;
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::support::{TestApp, data};

/// One 3072-bit key for all tests (generation is slow).
fn key() -> &'static rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| rsa::PrivateKey::new(&mut getrandom::SysRng, 3072).expect("keygen"))
}

fn spki_der(key: &rsa::PrivateKey) -> Vec<u8> {
    key.to_public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

fn sign(key: &rsa::PrivateKey, description: &Value) -> String {
    let bytes = medseal_core::pki::signed_bytes(
        medseal_server::handlers::studies::STUDY_CONTEXT,
        description,
    )
    .unwrap();
    let sig = key.pss_sign::<Sha256>(&bytes).unwrap();
    medseal_core::id::b64url(&sig)
}

async fn publish(app: &TestApp) -> String {
    let r = app.call("PUT", "/api/keys", &[], spki_der(key())).await;
    assert!(
        r.status == 201 || r.status == 200,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["fingerprint"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn keys_by_fingerprint() {
    let app = TestApp::new();
    let der = spki_der(key());
    let r = app.call("PUT", "/api/keys", &[], der.clone()).await;
    assert_eq!(r.status, 201);
    let fp = r.json()["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(fp, medseal_core::id::b64url(&Sha256::digest(&der)));
    assert_eq!(r.json()["bits"], 3072);
    // The PEM form is the same key, already there.
    let pem = key()
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let r = app.call("POST", "/api/keys", &[], pem).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["fingerprint"], fp);
    // Fetching returns the exact DER, by base64url or hex fingerprint.
    let r = app.get(&format!("/api/keys/{fp}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &der[..]);
    let hex = r.json();
    let _ = hex;
    let hexfp: String = Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        &app.get(&format!("/api/keys/{hexfp}")).await.body[..],
        &der[..]
    );
    // Bad input.
    app.call(
        "PUT",
        "/api/keys",
        &[],
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    )
    .await
    .expect_err(400, "bad_key");
    app.call("PUT", "/api/keys", &[], vec![0x30u8, 0x82, 1, 2, 3])
        .await
        .expect_err(400, "bad_key");
    let small = rsa::PrivateKey::new(&mut getrandom::SysRng, 1024).unwrap();
    app.call("PUT", "/api/keys", &[], spki_der(&small))
        .await
        .expect_err(400, "bad_key");
    app.get("/api/keys/abc").await.expect_err(400, "bad_id");
    app.get("/api/keys/..%2F..%2Fx")
        .await
        .expect_err(400, "bad_id");
    app.get(&format!("/api/keys/{}", "A".repeat(43)))
        .await
        .expect_err(404, "not_found");
}

#[tokio::test]
async fn studies_contributions_and_bundle() {
    let app = TestApp::new();
    let fp = publish(&app).await;
    let description = json!({"title": "Asthma and air", "key_fingerprint": fp, "policy": {"k": 5}});
    let body =
        json!({"description": description, "signature": sign(key(), &description)}).to_string();

    // Tampering, unknown keys and broken signatures are refused.
    let mut tampered = description.clone();
    tampered["title"] = json!("Something else");
    let bad = json!({"description": tampered, "signature": sign(key(), &description)});
    app.post_json("/api/studies", bad)
        .await
        .expect_err(400, "bad_signature");
    let unknown = json!({"title": "x", "key_fingerprint": "A".repeat(43)});
    app.post_json(
        "/api/studies",
        json!({"description": unknown, "signature": sign(key(), &unknown)}),
    )
    .await
    .expect_err(422, "unknown_key");
    app.post_json(
        "/api/studies",
        json!({"description": {"title": "x"}, "signature": "AA"}),
    )
    .await
    .expect_err(400, "bad_request");
    app.post_json(
        "/api/studies",
        json!({"description": description, "signature": "!!"}),
    )
    .await
    .expect_err(400, "bad_signature");

    let r = app.call("POST", "/api/studies", &[], body.clone()).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let sid = r.json()["id"].as_str().unwrap().to_owned();
    let admin = format!("Bearer {}", r.json()["admin_token"].as_str().unwrap());
    // Served exactly as given.
    let r = app.get(&format!("/api/studies/{sid}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], body.as_bytes());

    // Three contributions; one is withdrawn, one never completed.
    let mut ids = Vec::new();
    let mut withdraw = Vec::new();
    for (n, len) in [(0u8, 2500usize), (1, 10), (2, 0), (3, 700)] {
        let r = app
            .post_json(
                &format!("/api/studies/{sid}/contributions"),
                json!({"size": len}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let c = r.json();
        let cid = c["id"].as_str().unwrap().to_owned();
        let base = format!("/api/studies/{sid}/contributions/{cid}");
        let token = c["upload_token"].as_str().unwrap();
        app.send_parts(&base, token, &data(len, n), 1024).await;
        if n != 3 {
            let r = app
                .call(
                    "POST",
                    &format!("{base}/complete"),
                    &[("authorization", &format!("Bearer {token}"))],
                    Body::empty(),
                )
                .await;
            assert_eq!(r.status, 200);
        }
        ids.push(cid);
        withdraw.push(c["withdraw_token"].as_str().unwrap().to_owned());
    }
    let c1 = format!("/api/studies/{sid}/contributions/{}", ids[1]);
    app.call("DELETE", &c1, &[("authorization", &admin)], Body::empty())
        .await
        .expect_err(403, "bad_token");
    let r = app
        .call(
            "DELETE",
            &c1,
            &[("authorization", &format!("Bearer {}", withdraw[1]))],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 204);

    // Listing and downloading need the admin token.
    let list = format!("/api/studies/{sid}/contributions");
    app.get(&list).await.expect_err(401, "missing_token");
    app.call(
        "GET",
        &list,
        &[("authorization", &format!("Bearer {}", withdraw[0]))],
        Body::empty(),
    )
    .await
    .expect_err(403, "bad_token");
    let r = app
        .call("GET", &list, &[("authorization", &admin)], Body::empty())
        .await;
    assert_eq!(r.status, 200);
    let listed: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = vec![ids[0].clone(), ids[2].clone()];
    expected.sort();
    let mut got = listed.clone();
    got.sort();
    assert_eq!(got, expected);
    let r = app
        .call(
            "GET",
            &format!("{list}/{}", ids[0]),
            &[("authorization", &admin)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &data(2500, 0)[..]);
    app.get(&format!("{list}/{}", ids[0]))
        .await
        .expect_err(401, "missing_token");

    // The bundle: magic, count, records, end marker.
    let r = app
        .call(
            "GET",
            &format!("/api/studies/{sid}/bundle"),
            &[("authorization", &admin)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), r.body.len().to_string());
    let b = &r.body[..];
    assert_eq!(&b[..16], b"MEDSEAL-BUNDLE1\n");
    let count = u32::from_be_bytes(b[16..20].try_into().unwrap());
    assert_eq!(count, 2);
    let mut pos = 20;
    let mut seen = Vec::new();
    for _ in 0..count {
        let idlen = b[pos] as usize;
        let id = std::str::from_utf8(&b[pos + 1..pos + 1 + idlen])
            .unwrap()
            .to_owned();
        pos += 1 + idlen + 8;
        let size = u64::from_be_bytes(b[pos..pos + 8].try_into().unwrap()) as usize;
        pos += 8;
        let n = ids.iter().position(|x| *x == id).unwrap();
        assert_eq!(&b[pos..pos + size], &data(size, n as u8)[..]);
        pos += size;
        seen.push(id);
    }
    assert_eq!(b[pos], 0);
    assert_eq!(pos + 1, b.len());
}

/// The server checks exactly the bytes API.md documents (written out by hand here, not by
/// medseal-core), and accepts what medseal-core's `sign_canonical` makes, as the browser and
/// the CLI sign.
#[tokio::test]
async fn study_signatures_cover_the_documented_bytes() {
    let app = TestApp::new();
    let fp = publish(&app).await;
    // Keys out of order, nesting, escapes and a non-ASCII string.
    let text = format!(
        r#"{{"title":"Étude \"air\"","policy":{{"z":1,"k":[5,true,null]}},"key_fingerprint":"{fp}","a":"x"}}"#
    );
    let description: Value = serde_json::from_str(&text).unwrap();
    let mut bytes = b"medseal-signature\0medseal/v1 study\0".to_vec();
    bytes.extend_from_slice(
        format!(
            r#"{{"a":"x","key_fingerprint":"{fp}","policy":{{"k":[5,true,null],"z":1}},"title":"Étude \"air\""}}"#
        )
        .as_bytes(),
    );
    let by_hand = medseal_core::id::b64url(&key().pss_sign::<Sha256>(&bytes).unwrap());
    let r = app
        .post_json(
            "/api/studies",
            json!({"description": description, "signature": by_hand}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));

    let core_key = medseal_core::pki::PrivateKey::from_pkcs8_der(
        rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(key())
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let sig = core_key
        .sign_canonical(
            medseal_server::handlers::studies::STUDY_CONTEXT,
            &description,
        )
        .unwrap();
    let r = app
        .post_json(
            "/api/studies",
            json!({"description": description, "signature": medseal_core::id::b64url(&sig)}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // A signature under another context is refused.
    let other = core_key
        .sign_canonical("medseal/v1 share", &description)
        .unwrap();
    app.post_json(
        "/api/studies",
        json!({"description": description, "signature": medseal_core::id::b64url(&other)}),
    )
    .await
    .expect_err(400, "bad_signature");
}
