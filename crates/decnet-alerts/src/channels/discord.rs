//! Discord webhooks: one embed (title ≤ 256, description ≤ 4096, ≤ 25
//! fields of name ≤ 256 / value ≤ 1024, footer ≤ 2048, 6000 characters in
//! all, per Discord's embed limits) and `allowed_mentions` empty so nothing
//! in an alert can ping anyone. Markdown escaped.

use serde_json::{json, Value};

use super::hook::{HookFormat, JsonHook};
use super::http::Poster;
use super::ChannelContext;
use crate::alert::Alert;
use crate::config::channel::ChatSpec;
use crate::render::{clip, color, context_line, markdown};

/// Embed title limit.
pub const TITLE_MAX: usize = 256;
/// Embed description limit.
pub const DESCRIPTION_MAX: usize = 4096;
/// Fields per embed.
pub const FIELDS_MAX: usize = 25;
/// Field name limit.
pub const FIELD_NAME_MAX: usize = 256;
/// Field value limit.
pub const FIELD_VALUE_MAX: usize = 1024;
/// Footer limit.
pub const FOOTER_MAX: usize = 2048;
/// All embed text together.
pub const TOTAL_MAX: usize = 6000;

/// Discord's payload.
pub struct DiscordFormat {
    username: Option<String>,
}

/// The Discord channel.
pub type Discord = JsonHook<DiscordFormat>;

impl Discord {
    /// A Discord channel.
    pub fn new(name: &str, spec: &ChatSpec, ctx: &ChannelContext, poster: Poster) -> Self {
        let format = DiscordFormat {
            username: spec.username.clone(),
        };
        JsonHook::with_format(name, spec.url.clone(), ctx, poster, format)
    }
}

impl HookFormat for DiscordFormat {
    const KIND: &'static str = "discord";

    fn payload(&self, a: &Alert, ctx: &ChannelContext) -> Value {
        let title = clip(&markdown(&a.headline()), TITLE_MAX);
        let description = clip(&markdown(&a.summary), DESCRIPTION_MAX);
        let footer = clip(&context_line(a, &ctx.node), FOOTER_MAX);
        let mut budget = TOTAL_MAX.saturating_sub(
            title.chars().count() + description.chars().count() + footer.chars().count(),
        );
        let mut fields = Vec::new();
        for f in a.facts.iter().take(FIELDS_MAX) {
            let name = clip(&markdown(&f.name), FIELD_NAME_MAX);
            let value = clip(&markdown(&f.value), FIELD_VALUE_MAX);
            let cost = name.chars().count() + value.chars().count();
            if cost > budget || value.is_empty() {
                break;
            }
            budget -= cost;
            fields.push(
                json!({"name": name, "value": value, "inline": f.value.chars().count() <= 40}),
            );
        }
        let color = u32::from_str_radix(color(a.severity).trim_start_matches('#'), 16).unwrap_or(0);
        let mut embed = json!({
            "title": title,
            "color": color,
            "timestamp": a.ts.to_rfc3339(),
            "fields": fields,
            "footer": {"text": footer},
        });
        if !description.is_empty() {
            embed["description"] = json!(description);
        }
        if let Some(l) = &ctx.link {
            embed["url"] = json!(l);
        }
        let mut v = json!({"embeds": [embed], "allowed_mentions": {"parse": []}});
        if let Some(u) = &self.username {
            v["username"] = json!(u);
        }
        v
    }
}
