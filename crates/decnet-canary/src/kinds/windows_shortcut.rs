//! A Windows Internet shortcut (`.url`) on the desktop: opening it fetches
//! the token URL, and merely showing it in Explorer fetches its icon from
//! an SMB decky over the UNC path (with the viewer's NetNTLMv2).

use super::desktop_ini::unc;
use super::{Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::token::Token;

/// `windows_shortcut`.
pub struct WindowsShortcut;

impl TokenKind for WindowsShortcut {
    fn name(&self) -> &'static str {
        "windows_shortcut"
    }
    fn describe(&self) -> &'static str {
        "Windows .url shortcut: call-home URL, icon on an SMB decky"
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let icon = unc(token, ctx, "windows_shortcut", "portal.ico")?;
        let body = format!(
            "[InternetShortcut]\r\nURL={}\r\nIconIndex=0\r\nIconFile={icon}\r\n",
            ctx.url("c", &token.slug, "")
        );
        Ok(vec![Artifact::home(
            "Desktop/Payroll Portal.url",
            body,
            0o644,
        )])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;

    #[test]
    fn shortcut_has_url_and_unc_icon() {
        let (t, a) = testing::render("windows_shortcut");
        let text = testing::text(&a[0]);
        assert!(text.contains(&format!("URL=http://198.51.100.7:8080/c/{}\r\n", t.slug)));
        assert!(text.contains(&format!(
            "IconFile=\\\\10.0.0.20\\Finance\\{}\\portal.ico\r\n",
            t.slug
        )));
    }
}
