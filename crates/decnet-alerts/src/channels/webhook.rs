//! The generic signed webhook, the format `/api/v1/webhooks` receivers
//! have always been sent: the body is a bus
//! [`Envelope`] as JSON (an alert travels as `topic = alert.<rule>`,
//! `type = alert`, `payload = the alert`), POSTed with
//! `content-type: application/json`, `x-decnet-signature: sha256=<hex
//! HMAC-SHA256 of the body>`, `x-decnet-event: <type>` and
//! `x-decnet-delivery: <envelope id>` (the alert id: stable across retries,
//! so a receiver can drop the duplicates at-least-once delivery allows).
//! [`SignedWebhook::deliver`] sends any envelope: a channel with `subjects`
//! (the API's `/api/v1/webhooks` registrations among them) gets the bus
//! messages themselves.

use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::http::Poster;
use super::{Channel, SendError, Sent};
use crate::alert::Alert;
use crate::config::channel::SignedHookSpec;
use crate::secret::Secret;
use decnet_bus::Envelope;

/// Signature header: `sha256=<hex hmac of the body>`.
pub const SIGNATURE_HEADER: &str = "x-decnet-signature";
/// Message type header.
pub const EVENT_HEADER: &str = "x-decnet-event";
/// Delivery id header.
pub const DELIVERY_HEADER: &str = "x-decnet-delivery";

/// `sha256=<hex>` HMAC-SHA256 of a body.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header against a body (constant time).
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hexsig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hexsig) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The envelope an alert travels in.
pub fn envelope(alert: &Alert) -> Envelope {
    Envelope {
        v: decnet_bus::ENVELOPE_VERSION,
        id: alert.id,
        topic: format!(
            "alert.{}",
            decnet_core::subject::sanitize_token(&alert.rule)
        ),
        kind: "alert".into(),
        ts: alert.ts,
        payload: decnet_bus::Payload::Json(serde_json::to_value(alert).unwrap_or_default()),
    }
}

/// See the module doc.
pub struct SignedWebhook {
    name: String,
    url: Secret,
    secret: Secret,
    poster: Poster,
}

impl SignedWebhook {
    /// A signed webhook channel.
    pub fn new(name: &str, spec: &SignedHookSpec, poster: Poster) -> Self {
        SignedWebhook {
            name: name.to_owned(),
            url: spec.url.clone(),
            secret: spec.secret.clone(),
            poster,
        }
    }

    /// POSTs any envelope, signed.
    pub async fn deliver(&self, env: &Envelope) -> Result<Sent, SendError> {
        let body = serde_json::to_vec(env).map_err(|e| SendError::permanent(e.to_string()))?;
        let headers = [
            (SIGNATURE_HEADER, sign(self.secret.expose(), &body)),
            (EVENT_HEADER, env.kind.clone()),
            (DELIVERY_HEADER, env.id.to_string()),
        ];
        let (sent, _) = self
            .poster
            .post(&self.url, "application/json", &headers, body.into())
            .await?;
        Ok(sent)
    }
}

impl Channel for SignedWebhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move { self.deliver(&envelope(alert)).await })
    }

    fn send_envelope<'a>(&'a self, env: &'a Envelope) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(self.deliver(env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc4231() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let body = b"{\"v\":1}";
        let sig = sign("0123456789abcdef", body);
        assert!(verify("0123456789abcdef", body, &sig));
        assert!(!verify("0123456789abcdeX", body, &sig));
        assert!(!verify("0123456789abcdef", b"{\"v\":2}", &sig));
        assert!(!verify("0123456789abcdef", body, "md5=00"));
    }

    #[test]
    fn alert_envelope() {
        let a = Alert::test("hook");
        let env = envelope(&a);
        assert_eq!(env.id, a.id);
        assert_eq!(env.topic, "alert.channel_test");
        let v = serde_json::to_value(&env).unwrap();
        assert_eq!(v["type"], "alert");
        assert_eq!(v["payload"]["rule"], "channel_test");
    }
}
