//! AbuseIPDB v2 `check`: `GET /api/v2/check?ipAddress=…` with the key in
//! the `Key` header. Kept: the confidence score (0-100, also the row's
//! filterable score), report count, country, ISP, usage type and the last
//! report's time.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::provider::{parse_body, status_error, Answer, LookupError, Provider};

/// AbuseIPDB.
pub struct AbuseIpDb;

/// The `data` object of a `check` answer: the fields kept.
#[derive(Deserialize, Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Check {
    abuse_confidence_score: i64,
    #[serde(default)]
    total_reports: u64,
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    isp: Option<String>,
    #[serde(default)]
    usage_type: Option<String>,
    #[serde(default)]
    last_reported_at: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    data: Check,
}

impl Provider for AbuseIpDb {
    fn name(&self) -> &'static str {
        "abuseipdb"
    }

    fn key_header(&self) -> &'static str {
        "Key"
    }

    fn url(&self, root: &str, ip: IpAddr) -> String {
        format!("{root}/api/v2/check?ipAddress={ip}")
    }

    fn answer(&self, status: u16, body: &[u8]) -> Result<Answer, LookupError> {
        if status != 200 {
            return Err(status_error(self.name(), status));
        }
        let check = parse_body::<Envelope>(body)?.data;
        if !(0..=100).contains(&check.abuse_confidence_score) {
            return Err(LookupError::Malformed(format!(
                "abuseConfidenceScore {} outside 0-100",
                check.abuse_confidence_score
            )));
        }
        Ok(Answer {
            score: Some(check.abuse_confidence_score),
            data: serde_json::to_value(&check)
                .map_err(|e| LookupError::Malformed(e.to_string()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The example answer of AbuseIPDB's API documentation (CHECK
    /// endpoint), with its unkept fields.
    const DOC_EXAMPLE: &str = r#"{
      "data": {
        "ipAddress": "118.25.6.39",
        "isPublic": true,
        "ipVersion": 4,
        "isWhitelisted": false,
        "abuseConfidenceScore": 100,
        "countryCode": "CN",
        "countryName": "China",
        "usageType": "Data Center/Web Hosting/Transit",
        "isp": "Tencent Cloud Computing (Beijing) Co. Ltd",
        "domain": "tencent.com",
        "hostnames": [],
        "isTor": false,
        "totalReports": 1,
        "numDistinctUsers": 1,
        "lastReportedAt": "2018-12-20T20:55:14+00:00",
        "reports": []
      }
    }"#;

    #[test]
    fn the_documented_answer_keeps_its_six_fields() {
        let a = AbuseIpDb.answer(200, DOC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(a.score, Some(100));
        assert_eq!(
            a.data,
            serde_json::json!({
                "abuseConfidenceScore": 100,
                "totalReports": 1,
                "countryCode": "CN",
                "isp": "Tencent Cloud Computing (Beijing) Co. Ltd",
                "usageType": "Data Center/Web Hosting/Transit",
                "lastReportedAt": "2018-12-20T20:55:14+00:00"
            })
        );
    }

    #[test]
    fn a_never_reported_address_has_nulls() {
        let body = r#"{"data":{"ipAddress":"203.0.113.9","isPublic":true,"abuseConfidenceScore":0,"countryCode":null,"usageType":null,"isp":"","totalReports":0,"lastReportedAt":null}}"#;
        let a = AbuseIpDb.answer(200, body.as_bytes()).unwrap();
        assert_eq!(a.score, Some(0));
        assert_eq!(a.data["lastReportedAt"], serde_json::Value::Null);
    }

    #[test]
    fn errors_are_classified() {
        let refused = r#"{"errors":[{"detail":"Authentication failed. Your API key is either missing, incorrect, or revoked.","status":401}]}"#;
        assert_eq!(
            AbuseIpDb.answer(401, refused.as_bytes()),
            Err(LookupError::KeyRefused("abuseipdb", 401))
        );
        assert_eq!(
            AbuseIpDb.answer(429, b"{}"),
            Err(LookupError::RateLimited(None))
        );
        assert!(matches!(
            AbuseIpDb.answer(200, b"<html>"),
            Err(LookupError::Malformed(_))
        ));
        assert!(matches!(
            AbuseIpDb.answer(200, br#"{"data":{"abuseConfidenceScore":900}}"#),
            Err(LookupError::Malformed(_))
        ));
    }
}
