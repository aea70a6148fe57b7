//! Notification channels. Each file is one channel: how an [`Alert`]
//! becomes that platform's documented payload (a pure function, tested
//! against the platform's schema or documented limits) and how it is sent.
//! Every channel implements [`Channel`]; [`test`] sends a test alert through
//! the real path and reports what really happened.

pub mod discord;
pub mod hook;
pub mod http;
pub mod mattermost;
pub mod pagerduty;
pub mod slack;
pub mod smtp;
pub mod syslog;
pub mod teams;
pub mod webhook;

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::alert::Alert;
use crate::config::{ChannelConfig, ChannelSpec};
use decnet_bus::Envelope;

/// What a channel needs besides its own settings.
#[derive(Clone, Debug)]
pub struct ChannelContext {
    /// This installation's name.
    pub node: String,
    /// Dashboard URL for links.
    pub link: Option<String>,
}

/// A delivery that went through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    /// HTTP status (or SMTP reply code), when there is one.
    pub status: Option<u16>,
}

/// A delivery that failed. The message never carries a secret (no URL,
/// no key, no password).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// Worth retrying (network, timeout, 429, 5xx, SMTP 4xx)?
    pub retryable: bool,
    /// HTTP status (or SMTP code).
    pub status: Option<u16>,
    /// What happened.
    pub message: String,
}

impl SendError {
    /// A failure that may pass later.
    pub fn transient(message: impl Into<String>) -> Self {
        SendError {
            retryable: true,
            status: None,
            message: message.into(),
        }
    }

    /// A failure that will not pass by retrying.
    pub fn permanent(message: impl Into<String>) -> Self {
        SendError {
            retryable: false,
            status: None,
            message: message.into(),
        }
    }
}

/// Why a channel could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// TLS settings (CA file…).
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// Anything else.
    #[error("{0}")]
    Invalid(String),
}

/// A notification channel.
pub trait Channel: Send + Sync + 'static {
    /// Configured name.
    fn name(&self) -> &str;
    /// Type (`slack`…).
    fn kind(&self) -> &'static str;
    /// Delivers one alert.
    fn send<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Sent, SendError>>;
    /// Delivers one bus message as it is (channels configured with
    /// `subjects`). Only channels whose payload is the envelope itself can;
    /// the others refuse for good, and configuration refuses `subjects` on
    /// them, so this is never reached in practice.
    fn send_envelope<'a>(&'a self, _env: &'a Envelope) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            Err(SendError::permanent(format!(
                "{} channels carry alerts only",
                self.kind()
            )))
        })
    }
}

/// Result of a channel test.
#[derive(Clone, Debug, Serialize)]
pub struct TestOutcome {
    /// Channel.
    pub channel: String,
    /// The platform accepted the message.
    pub delivered: bool,
    /// Status/reply code, when there is one.
    pub status: Option<u16>,
    /// What went wrong.
    pub error: Option<String>,
    /// Would a retry help?
    pub retryable: bool,
    /// Round trip.
    pub latency_ms: u64,
}

/// Sends a test alert through `ch` and reports the true outcome.
pub async fn test(ch: &dyn Channel) -> TestOutcome {
    let alert = Alert::test(ch.name());
    let started = Instant::now();
    let r = ch.send(&alert).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    match r {
        Ok(sent) => TestOutcome {
            channel: ch.name().into(),
            delivered: true,
            status: sent.status,
            error: None,
            retryable: false,
            latency_ms,
        },
        Err(e) => TestOutcome {
            channel: ch.name().into(),
            delivered: false,
            status: e.status,
            error: Some(e.message),
            retryable: e.retryable,
            latency_ms,
        },
    }
}

/// Builds the channel a config describes.
pub fn build(cfg: &ChannelConfig, ctx: &ChannelContext) -> Result<Arc<dyn Channel>, BuildError> {
    let poster = || http::Poster::new(cfg.timeout, cfg.ca_file.as_deref());
    Ok(match &cfg.spec {
        ChannelSpec::Smtp(s) => Arc::new(smtp::Smtp::new(cfg, s, ctx)?),
        ChannelSpec::Slack(c) => Arc::new(slack::Slack::new(&cfg.name, c, ctx, poster()?)),
        ChannelSpec::Teams(c) => Arc::new(teams::Teams::new(&cfg.name, c, ctx, poster()?)),
        ChannelSpec::Mattermost(c) => {
            Arc::new(mattermost::Mattermost::new(&cfg.name, c, ctx, poster()?))
        }
        ChannelSpec::Discord(c) => Arc::new(discord::Discord::new(&cfg.name, c, ctx, poster()?)),
        ChannelSpec::PagerDuty(p) => {
            Arc::new(pagerduty::PagerDuty::new(&cfg.name, p, ctx, poster()?))
        }
        ChannelSpec::Webhook(w) => Arc::new(webhook::SignedWebhook::new(&cfg.name, w, poster()?)),
        ChannelSpec::Syslog(s) => Arc::new(syslog::SyslogCef::new(cfg, s, ctx)?),
    })
}
