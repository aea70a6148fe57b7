//! Mattermost incoming webhooks: `text` plus one Slack-style attachment
//! (colour bar, title, text, short fields), with optional `username` and
//! `channel` overrides. Markdown escaped.

use serde_json::{json, Value};

use super::hook::{HookFormat, JsonHook};
use super::http::Poster;
use super::ChannelContext;
use crate::alert::Alert;
use crate::config::channel::ChatSpec;
use crate::render::{clip, color, context_line, markdown, MAX_TEXT};

/// Mattermost's payload.
pub struct MattermostFormat {
    username: Option<String>,
    channel: Option<String>,
}

/// The Mattermost channel.
pub type Mattermost = JsonHook<MattermostFormat>;

impl Mattermost {
    /// A Mattermost channel.
    pub fn new(name: &str, spec: &ChatSpec, ctx: &ChannelContext, poster: Poster) -> Self {
        let format = MattermostFormat {
            username: spec.username.clone(),
            channel: spec.channel.clone(),
        };
        JsonHook::with_format(name, spec.url.clone(), ctx, poster, format)
    }
}

impl HookFormat for MattermostFormat {
    const KIND: &'static str = "mattermost";

    fn payload(&self, a: &Alert, ctx: &ChannelContext) -> Value {
        let fields: Vec<Value> = a
            .facts
            .iter()
            .map(|f| json!({"short": f.value.chars().count() <= 40, "title": markdown(&f.name), "value": markdown(&clip(&f.value, MAX_TEXT))}))
            .collect();
        let mut attachment = json!({
            "fallback": a.headline(),
            "color": color(a.severity),
            "title": markdown(&a.headline()),
            "text": markdown(&clip(&a.summary, MAX_TEXT)),
            "fields": fields,
            "footer": context_line(a, &ctx.node),
        });
        if let Some(l) = &ctx.link {
            attachment["title_link"] = json!(l);
        }
        let mut v = json!({"text": markdown(&a.headline()), "attachments": [attachment]});
        if let Some(u) = &self.username {
            v["username"] = json!(u);
        }
        if let Some(c) = &self.channel {
            v["channel"] = json!(c);
        }
        v
    }
}
