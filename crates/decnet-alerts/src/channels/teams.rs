//! Microsoft Teams (incoming webhook / Workflows "post to a channel when a
//! webhook request is received"): an Adaptive Card 1.5 in the `message` /
//! `attachments` envelope Teams documents. The card is validated against
//! the published Adaptive Card 1.5 JSON schema in the tests.

use serde_json::{json, Value};

use super::hook::{HookFormat, JsonHook};
use super::http::Poster;
use super::ChannelContext;
use crate::alert::{Alert, Severity};
use crate::config::channel::ChatSpec;
use crate::render::{clip, context_line, markdown, MAX_TEXT};

/// Teams' payload.
pub struct TeamsFormat;

/// The Teams channel.
pub type Teams = JsonHook<TeamsFormat>;

impl Teams {
    /// A Teams channel.
    pub fn new(name: &str, spec: &ChatSpec, ctx: &ChannelContext, poster: Poster) -> Self {
        JsonHook::with_format(name, spec.url.clone(), ctx, poster, TeamsFormat)
    }
}

/// The card alone (what the schema describes).
pub fn card(a: &Alert, ctx: &ChannelContext) -> Value {
    let color = match a.severity {
        Severity::Critical | Severity::High => "Attention",
        Severity::Medium => "Warning",
        Severity::Low | Severity::Info => "Default",
    };
    let mut body = vec![json!({
        "type": "TextBlock", "text": markdown(&a.headline()), "weight": "Bolder",
        "size": "Medium", "color": color, "wrap": true
    })];
    if !a.summary.is_empty() {
        body.push(json!({"type": "TextBlock", "text": markdown(&clip(&a.summary, MAX_TEXT)), "wrap": true}));
    }
    if !a.facts.is_empty() {
        let facts: Vec<Value> = a
            .facts
            .iter()
            .map(|f| json!({"title": markdown(&f.name), "value": markdown(&clip(&f.value, MAX_TEXT))}))
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    body.push(json!({
        "type": "TextBlock", "text": markdown(&context_line(a, &ctx.node)),
        "isSubtle": true, "size": "Small", "wrap": true
    }));
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": body,
    });
    if let Some(l) = &ctx.link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open decnet", "url": l}]);
    }
    card
}

impl HookFormat for TeamsFormat {
    const KIND: &'static str = "teams";

    fn payload(&self, a: &Alert, ctx: &ChannelContext) -> Value {
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card(a, ctx),
            }]
        })
    }
}
