//! No password, token, refresh token, TOTP secret, recovery code or API key
//! ever appears in plain form in the server's log or its database files,
//! after a full identity flow against the real binary.

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod support;

use palisade_client::Method;
use palisade_proto::auth::{ApiKeyCreated, RecoveryCodes, TotpEnrolment};
use serde_json::json;
use support::{Server, client, rt};

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_never_reach_logs_or_database_in_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::start(&dir, &["--log-level", "debug"]).unwrap();
    let otp = std::fs::read_to_string(dir.join("initial-admin-password")).unwrap();
    let otp = otp.trim().to_owned();
    let canary_pw = format!(
        "canary pass phrase {}",
        palisade_core::Uid::generate().unwrap()
    );
    let port = server.port;
    let mut secrets: Vec<String> = vec![otp.clone(), canary_pw.clone()];
    rt().block_on(async {
        let c = client(&dir.join("tls/ca.pem"), port);
        c.change_password("system", "admin@localhost", &otp, &canary_pw)
            .await
            .unwrap();
        // A failed login with a canary in the password field too.
        let wrong = format!("wrong canary {}", palisade_core::Uid::generate().unwrap());
        let _ = c.login("system", "admin@localhost", &wrong).await;
        secrets.push(wrong);
        let r = c
            .login("system", "admin@localhost", &canary_pw)
            .await
            .unwrap()
            .body;
        let at = r.access_token.unwrap();
        let rt1 = r.refresh_token.unwrap();
        let r2 = c.refresh(&rt1).await.unwrap().body;
        let at2 = r2.access_token.unwrap();
        secrets.extend([at.clone(), rt1, r2.refresh_token.unwrap(), at2.clone()]);
        let key: ApiKeyCreated = c
            .call(
                Method::POST,
                "/v1/apikeys",
                Some(&at2),
                Some(&json!({"name": "robot"})),
            )
            .await
            .unwrap()
            .body;
        let _: serde_json::Value = c
            .call(Method::GET, "/v1/me", Some(&key.key), None::<&()>)
            .await
            .unwrap()
            .body;
        secrets.push(key.key.clone());
        let enrol: TotpEnrolment = c
            .call(Method::POST, "/v1/me/mfa/totp", Some(&at2), None::<&()>)
            .await
            .unwrap()
            .body;
        secrets.push(enrol.secret.clone());
        let secret = palisade_crypto::TotpSecret::from_base32(&enrol.secret).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let code = palisade_crypto::totp::code_at(&secret, now).unwrap();
        let rc: RecoveryCodes = c
            .call(
                Method::POST,
                "/v1/me/mfa/totp/confirm",
                Some(&at2),
                Some(&json!({"code": code})),
            )
            .await
            .unwrap()
            .body;
        secrets.extend(rc.recovery_codes);
    });
    let log = server.stderr();
    assert!(log.contains("\"request_uid\""), "the log was captured");
    assert_eq!(server.stop(), 0);
    let mut files = vec![("log", log.into_bytes())];
    for name in ["palisade.db", "palisade.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            files.push((name, b));
        }
    }
    for (name, bytes) in &files {
        for s in &secrets {
            assert!(
                !contains(bytes, s),
                "a secret ({} chars) appears in {name}",
                s.len()
            );
            // Refresh tokens and keys: their random part alone must not appear either.
            if let Some(tail) = s.rsplit('.').next().filter(|t| t.len() >= 40) {
                assert!(
                    !contains(bytes, tail),
                    "a token's secret part appears in {name}"
                );
            }
        }
    }
}
