//! [`JsonHook`]: a channel that POSTs one JSON document per alert to a
//! URL (Slack, Teams, Mattermost, Discord, PagerDuty). Each platform only
//! supplies its [`HookFormat`]; sending, timeouts and error classification
//! are the same for all.

use futures::future::BoxFuture;
use serde_json::Value;

use super::http::Poster;
use super::{Channel, ChannelContext, SendError, Sent};
use crate::alert::Alert;
use crate::secret::Secret;

/// How one platform writes an alert.
pub trait HookFormat: Send + Sync + 'static {
    /// Channel type.
    const KIND: &'static str;
    /// The request body for `alert`.
    fn payload(&self, alert: &Alert, ctx: &ChannelContext) -> Value;
    /// Checks a 2xx response body (PagerDuty says `"status":"success"`).
    fn accepted(&self, _body: &[u8]) -> Result<(), SendError> {
        Ok(())
    }
}

/// See the module doc.
pub struct JsonHook<F> {
    name: String,
    url: Secret,
    ctx: ChannelContext,
    poster: Poster,
    format: F,
}

impl<F: HookFormat> JsonHook<F> {
    /// A channel posting `format`'s payloads to `url`.
    pub fn with_format(
        name: &str,
        url: Secret,
        ctx: &ChannelContext,
        poster: Poster,
        format: F,
    ) -> Self {
        JsonHook {
            name: name.to_owned(),
            url,
            ctx: ctx.clone(),
            poster,
            format,
        }
    }

    /// The payload this channel would send.
    pub fn payload(&self, alert: &Alert) -> Value {
        self.format.payload(alert, &self.ctx)
    }
}

impl<F: HookFormat> Channel for JsonHook<F> {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        F::KIND
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            let body = self.payload(alert);
            let (sent, resp) = self.poster.post_json(&self.url, &[], &body).await?;
            self.format.accepted(&resp)?;
            Ok(sent)
        })
    }
}
