//! GreyNoise community API: `GET /v3/community/{ip}` with the key in the
//! `key` header. Kept: whether the address is internet background noise
//! (`noise`), a known benign service (`riot`), GreyNoise's classification,
//! the actor or service name, and when it was last seen. A 404 means
//! GreyNoise has not seen the address: that is an answer, kept like one
//! (`seen: false`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::provider::{parse_body, status_error, Answer, LookupError, Provider};

/// GreyNoise community.
pub struct GreyNoise;

/// The fields kept of a community answer.
#[derive(Deserialize, Serialize, Debug, PartialEq)]
struct Community {
    #[serde(default)]
    noise: bool,
    #[serde(default)]
    riot: bool,
    #[serde(default)]
    classification: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    last_seen: Option<String>,
}

impl Provider for GreyNoise {
    fn name(&self) -> &'static str {
        "greynoise"
    }

    fn key_header(&self) -> &'static str {
        "key"
    }

    fn url(&self, root: &str, ip: IpAddr) -> String {
        format!("{root}/v3/community/{ip}")
    }

    fn answer(&self, status: u16, body: &[u8]) -> Result<Answer, LookupError> {
        let (seen, c) = match status {
            200 => (true, parse_body::<Community>(body)?),
            // Not observed: the body says so in prose; the answer is the status.
            404 => (
                false,
                Community {
                    noise: false,
                    riot: false,
                    classification: None,
                    name: None,
                    last_seen: None,
                },
            ),
            s => return Err(status_error(self.name(), s)),
        };
        let mut data =
            serde_json::to_value(&c).map_err(|e| LookupError::Malformed(e.to_string()))?;
        data["seen"] = serde_json::Value::Bool(seen);
        Ok(Answer { score: None, data })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The answer shape of GreyNoise's community API documentation.
    const NOISE: &str = r#"{
      "ip": "51.91.185.74",
      "noise": true,
      "riot": false,
      "classification": "malicious",
      "name": "unknown",
      "link": "https://viz.greynoise.io/ip/51.91.185.74",
      "last_seen": "2023-01-31",
      "message": "Success"
    }"#;

    #[test]
    fn a_noisy_address_keeps_its_five_fields() {
        let a = GreyNoise.answer(200, NOISE.as_bytes()).unwrap();
        assert_eq!(a.score, None);
        assert_eq!(
            a.data,
            serde_json::json!({
                "noise": true,
                "riot": false,
                "classification": "malicious",
                "name": "unknown",
                "last_seen": "2023-01-31",
                "seen": true
            })
        );
    }

    #[test]
    fn a_benign_service_is_riot() {
        let body = r#"{"ip":"8.8.8.8","noise":false,"riot":true,"classification":"benign","name":"Google Public DNS","link":"https://viz.greynoise.io/riot/8.8.8.8","last_seen":"2023-02-01","message":"Success"}"#;
        let a = GreyNoise.answer(200, body.as_bytes()).unwrap();
        assert_eq!(a.data["riot"], true);
        assert_eq!(a.data["name"], "Google Public DNS");
    }

    #[test]
    fn not_found_is_the_answer_not_seen() {
        let body = r#"{"ip":"203.0.113.9","noise":false,"riot":false,"message":"IP not observed scanning the internet or contained in RIOT data set."}"#;
        let a = GreyNoise.answer(404, body.as_bytes()).unwrap();
        assert_eq!(a.data["seen"], false);
        assert_eq!(a.data["noise"], false);
        assert_eq!(a.data["classification"], serde_json::Value::Null);
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(
            GreyNoise.answer(401, b"{}"),
            Err(LookupError::KeyRefused("greynoise", 401))
        );
        assert_eq!(
            GreyNoise.answer(429, br#"{"plan":"community","rate-limit":"100-lookups/day","message":"You have hit your daily rate limit of 100 requests"}"#),
            Err(LookupError::RateLimited(None))
        );
        assert_eq!(GreyNoise.answer(500, b""), Err(LookupError::Status(500)));
        assert!(matches!(
            GreyNoise.answer(200, br#"{"noise":"yes"}"#),
            Err(LookupError::Malformed(_))
        ));
    }
}
