//! A folder's `desktop.ini` whose icon lives on an SMB decky: Windows
//! Explorer opens the UNC path to draw the folder, authenticating with the
//! viewer's NetNTLMv2 (captured by the smb service), and the path names the token.

use super::{Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::token::Token;

/// `desktop_ini`.
pub struct DesktopIni;

/// `\\host\share\<slug>\<file>`, the UNC path the Windows kinds point at.
pub(super) fn unc(
    token: &Token,
    ctx: &Ctx,
    kind: &'static str,
    file: &str,
) -> CanaryResult<String> {
    let smb = Ctx::need(kind, "smb", &ctx.targets.smb)?;
    let share = ctx.targets.smb_share.as_deref().unwrap_or("Shared");
    Ok(format!("\\\\{}\\{share}\\{}\\{file}", smb.host, token.slug))
}

impl TokenKind for DesktopIni {
    fn name(&self) -> &'static str {
        "desktop_ini"
    }
    fn describe(&self) -> &'static str {
        "Folder desktop.ini whose icon is on an SMB decky (Explorer fetches it)"
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let icon = unc(token, ctx, "desktop_ini", "folder.ico")?;
        // Explorer reads desktop.ini as UTF-16 or the ANSI code page; CRLF as Windows writes it.
        let ini = format!(
            "[.ShellClassInfo]\r\nIconResource={icon},0\r\nIconFile={icon}\r\nIconIndex=0\r\n\
             [ViewState]\r\nMode=\r\nVid=\r\nFolderType=Documents\r\n"
        );
        Ok(vec![Artifact::home(
            "Documents/Finance/desktop.ini",
            ini,
            0o644,
        )])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::{find, testing, Ctx};

    #[test]
    fn icon_is_a_unc_path_naming_the_token() {
        let (t, a) = testing::render("desktop_ini");
        let text = testing::text(&a[0]);
        assert!(text.starts_with("[.ShellClassInfo]\r\n"));
        assert!(text.contains(&format!(
            "IconResource=\\\\10.0.0.20\\Finance\\{}\\folder.ico,0\r\n",
            t.slug
        )));
        let err = find("desktop_ini")
            .unwrap()
            .render(&t, &Ctx::new("http://x"))
            .unwrap_err();
        assert!(err.to_string().contains("smb decky"));
    }
}
