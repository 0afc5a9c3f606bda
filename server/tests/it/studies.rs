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
    // Another contribution's withdraw token is a wrong token. (This used the admin token as the
    // wrong one; the admin token now deletes any contribution of its study.)
    app.call(
        "DELETE",
        &c1,
        &[("authorization", &format!("Bearer {}", withdraw[0]))],
        Body::empty(),
    )
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
    // The id is derived from the description (FORMAT.md appendix A), so clients can check it.
    assert_eq!(
        r.json()["id"],
        medseal_core::study::study_id_of(&description).unwrap()
    );

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
    // The same description again (with a fresh PSS signature) would be the same id: refused,
    // so no one can take over a study by reposting its public description.
    app.post_json(
        "/api/studies",
        json!({"description": description, "signature": medseal_core::id::b64url(&sig)}),
    )
    .await
    .expect_err(409, "study_exists");
    let mut description2 = description.clone();
    description2["nonce"] = json!("second");
    let sig = core_key
        .sign_canonical(
            medseal_server::handlers::studies::STUDY_CONTEXT,
            &description2,
        )
        .unwrap();
    let r = app
        .post_json(
            "/api/studies",
            json!({"description": description2, "signature": medseal_core::id::b64url(&sig)}),
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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Publishes a signed study closing at `closes_at`; returns the server's answer.
async fn post_study(app: &TestApp, fp: &str, closes_at: u64) -> crate::support::Reply {
    let description =
        json!({"title": "Closing", "key_fingerprint": fp, "closes_at": closes_at, "min_k": 2});
    app.post_json(
        "/api/studies",
        json!({"description": description, "signature": sign(key(), &description)}),
    )
    .await
}

/// Creates, uploads and completes one contribution; returns (id, withdraw token).
async fn contribute(app: &TestApp, sid: &str, bytes: &[u8]) -> (String, String) {
    let r = app
        .post_json(
            &format!("/api/studies/{sid}/contributions"),
            json!({"size": bytes.len()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let c = r.json();
    let cid = c["id"].as_str().unwrap().to_owned();
    let token = c["upload_token"].as_str().unwrap();
    let base = format!("/api/studies/{sid}/contributions/{cid}");
    app.send_parts(&base, token, bytes, 1024).await;
    let r = app
        .call(
            "POST",
            &format!("{base}/complete"),
            &[("authorization", &format!("Bearer {token}"))],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200);
    (cid, c["withdraw_token"].as_str().unwrap().to_owned())
}

/// After `closes_at`, a withdrawal is refused with `409 study_closed` (the researcher may
/// already hold the data) and the contribution stays in the bundle, byte for byte; before it,
/// the same request withdraws.
#[tokio::test]
async fn withdrawing_after_the_study_closed_is_refused_and_keeps_the_contribution() {
    let app = TestApp::new();
    let fp = publish(&app).await;
    let closes_at = unix_now() + 3;
    let r = post_study(&app, &fp, closes_at).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["closes_at"], closes_at);
    let sid = r.json()["id"].as_str().unwrap().to_owned();
    let admin = format!("Bearer {}", r.json()["admin_token"].as_str().unwrap());
    let (kept, kept_token) = contribute(&app, &sid, &data(3000, 7)).await;
    let (gone, gone_token) = contribute(&app, &sid, &data(100, 8)).await;
    // While open: withdrawal works.
    let r = app
        .call(
            "DELETE",
            &format!("/api/studies/{sid}/contributions/{gone}"),
            &[("authorization", &format!("Bearer {gone_token}"))],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));

    while unix_now() < closes_at {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let url = format!("/api/studies/{sid}/contributions/{kept}");
    // A wrong token is still a wrong token; the right one meets the closed study. (This used
    // the admin token as the wrong one; the admin token now deletes, see
    // `the_researcher_deletes_any_contribution_with_the_admin_token`.)
    app.call(
        "DELETE",
        &url,
        &[("authorization", "Bearer not-a-token")],
        Body::empty(),
    )
    .await
    .expect_err(403, "bad_token");
    let bearer = format!("Bearer {kept_token}");
    let r = app
        .call("DELETE", &url, &[("authorization", &bearer)], Body::empty())
        .await;
    r.expect_err(409, "study_closed");
    assert!(r.json()["message"].as_str().unwrap().contains("closed"));
    let doc = app.get("/api/openapi.json").await.json();
    let responses = &doc["paths"]["/api/studies/{sid}/contributions/{cid}"]["delete"]["responses"];
    assert!(
        responses["409"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("study_closed")),
        "409 study_closed is not documented: {responses}"
    );
    // Asking again changes nothing.
    app.call("DELETE", &url, &[("authorization", &bearer)], Body::empty())
        .await
        .expect_err(409, "study_closed");
    // The withdrawn one stays withdrawn.
    app.call(
        "DELETE",
        &format!("/api/studies/{sid}/contributions/{gone}"),
        &[("authorization", &format!("Bearer {gone_token}"))],
        Body::empty(),
    )
    .await
    .expect_err(410, "withdrawn");
    // New contributions are refused as before.
    app.post_json(
        &format!("/api/studies/{sid}/contributions"),
        json!({"size": 1}),
    )
    .await
    .expect_err(410, "closed");

    // The contribution is intact: listed, downloadable and in the bundle.
    let r = app
        .call("GET", &url, &[("authorization", &admin)], Body::empty())
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &data(3000, 7)[..]);
    let r = app
        .call(
            "GET",
            &format!("/api/studies/{sid}/bundle"),
            &[("authorization", &admin)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200);
    let items = medseal_core::study::parse_bundle(&r.body).expect("bundle");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].id, kept);
    assert_eq!(items[0].ciphertext, &data(3000, 7)[..]);
}

/// A closing date beyond `--max-expiry` is refused with 400 and a message that says why,
/// instead of being cut short silently (patients see the signed date). The last second of the
/// day `--max-expiry` ahead is still accepted, as the study page picks 23:59:59 UTC of a date.
#[tokio::test]
async fn a_closing_date_beyond_the_maximum_expiry_is_refused() {
    let app = TestApp::with(|s| s.max_expiry = 10 * 86_400);
    let fp = publish(&app).await;
    let now = unix_now();
    let end_of_day = (now + 10 * 86_400) / 86_400 * 86_400 + 86_399;
    let r = post_study(&app, &fp, end_of_day + 1).await;
    r.expect_err(400, "bad_expiry");
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("too far ahead") && message.contains("10 days"),
        "{message}"
    );
    let doc = app.get("/api/openapi.json").await.json();
    assert!(
        doc["paths"]["/api/studies"]["post"]["responses"]["400"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("bad_expiry")),
        "400 bad_expiry is not documented"
    );
    post_study(&app, &fp, now + 365 * 86_400)
        .await
        .expect_err(400, "bad_expiry");
    // Nothing was stored for the refused studies.
    let studies = app.dir.path().join("objects/studies");
    assert!(!studies.exists());

    let r = post_study(&app, &fp, end_of_day).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(std::fs::read_dir(&studies).unwrap().count(), 1);
    assert_eq!(r.json()["closes_at"], end_of_day);
    assert_eq!(
        r.json()["expires_at"],
        end_of_day + app.state.settings.study_retention
    );
    // In the past: refused as before.
    post_study(&app, &fp, now - 1)
        .await
        .expect_err(400, "bad_expiry");
    assert_eq!(
        medseal_server::handlers::studies::latest_close(86_400 * 3 + 5, 86_400),
        86_400 * 5 - 1
    );
}

/// The researcher deletes any contribution of their study with the admin token (a garbage
/// upload must not stay in every export), also after the study closed; the admin token of
/// another study cannot, and the withdraw token keeps its rules.
#[tokio::test]
async fn the_researcher_deletes_any_contribution_with_the_admin_token() {
    let app = TestApp::new();
    let base = crate::support::serve(app.state.clone()).await;
    let client = reqwest::Client::new();
    let fp = publish(&app).await;
    let closes_at = unix_now() + 3;
    let r = post_study(&app, &fp, closes_at).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let sid = r.json()["id"].as_str().unwrap().to_owned();
    let admin = r.json()["admin_token"].as_str().unwrap().to_owned();
    let r = post_study(&app, &fp, closes_at + 86_400).await;
    let other_admin = r.json()["admin_token"].as_str().unwrap().to_owned();
    let (garbage, _) = contribute(&app, &sid, b"junk!").await;
    let (late, _) = contribute(&app, &sid, &data(500, 2)).await;
    let (kept, _) = contribute(&app, &sid, &data(700, 3)).await;
    let delete = |cid: String, token: String| {
        let (client, base, sid) = (client.clone(), base.clone(), sid.clone());
        async move {
            client
                .delete(format!("{base}/api/studies/{sid}/contributions/{cid}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let r = delete(garbage.clone(), other_admin).await;
    assert_eq!(r.status(), 403, "another study's admin token cannot delete");
    let r = delete(garbage.clone(), admin.clone()).await;
    assert_eq!(r.status(), 204);
    let r = delete(garbage.clone(), admin.clone()).await;
    assert_eq!(r.status(), 410, "deleted once");
    while unix_now() < closes_at {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // After closing too.
    assert_eq!(delete(late.clone(), admin.clone()).await.status(), 204);
    let listed: Value = client
        .get(format!("{base}/api/studies/{sid}/contributions"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![kept.as_str()]);
}
