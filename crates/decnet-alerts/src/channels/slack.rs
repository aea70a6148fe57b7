//! Slack incoming webhooks with Block Kit: a header, the summary, up to ten
//! fact fields and a context line, plus the top-level `text` Slack shows in
//! notifications. Limits from Slack's Block Kit reference: header text
//! ≤ 150 chars, section text ≤ 3000, ≤ 10 fields of ≤ 2000, context ≤ 10
//! elements. All text escaped (`&`, `<`, `>`), so an attacker's command line
//! can neither mention `@channel` nor forge a link.

use serde_json::{json, Value};

use super::hook::{HookFormat, JsonHook};
use super::http::Poster;
use super::ChannelContext;
use crate::alert::Alert;
use crate::config::channel::ChatSpec;
use crate::render::{clip, context_line, slack};

/// Block Kit limits.
pub const HEADER_MAX: usize = 150;
/// Section text limit.
pub const SECTION_MAX: usize = 3000;
/// Fields per section.
pub const FIELDS_MAX: usize = 10;
/// Field text limit.
pub const FIELD_MAX: usize = 2000;

/// Slack's payload.
pub struct SlackFormat;

/// The Slack channel.
pub type Slack = JsonHook<SlackFormat>;

impl Slack {
    /// A Slack channel.
    pub fn new(name: &str, spec: &ChatSpec, ctx: &ChannelContext, poster: Poster) -> Self {
        JsonHook::with_format(name, spec.url.clone(), ctx, poster, SlackFormat)
    }
}

impl HookFormat for SlackFormat {
    const KIND: &'static str = "slack";

    fn payload(&self, a: &Alert, ctx: &ChannelContext) -> Value {
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": clip(&slack(&a.headline()), HEADER_MAX), "emoji": false}}),
        ];
        if !a.summary.is_empty() {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&slack(&a.summary), SECTION_MAX)}}));
        }
        let fields: Vec<Value> = a
            .facts
            .iter()
            .take(FIELDS_MAX)
            .map(|f| {
                json!({"type": "mrkdwn", "text": clip(&format!("*{}*\n{}", slack(&f.name), slack(&f.value)), FIELD_MAX)})
            })
            .collect();
        if !fields.is_empty() {
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        let mut context = vec![
            json!({"type": "mrkdwn", "text": clip(&slack(&context_line(a, &ctx.node)), SECTION_MAX)}),
        ];
        if let Some(l) = &ctx.link {
            context.push(json!({"type": "mrkdwn", "text": clip(&format!("<{}|Open decnet>", slack(l)), SECTION_MAX)}));
        }
        blocks.push(json!({"type": "context", "elements": context}));
        json!({"text": clip(&slack(&a.headline()), SECTION_MAX), "blocks": blocks})
    }
}
