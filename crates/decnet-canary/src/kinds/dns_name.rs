//! A hostname in the canary zone: fires when anything resolves it (the
//! attacker's resolver asks our authoritative server).

use super::{Artifact, Ctx, TokenKind};
use crate::error::{CanaryError, CanaryResult};
use crate::token::Token;

/// `dns_name`.
pub struct DnsName;

impl TokenKind for DnsName {
    fn name(&self) -> &'static str {
        "dns_name"
    }
    fn describe(&self) -> &'static str {
        "Hostname that reports whoever resolves it"
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let host = ctx
            .hostname(&token.slug)
            .ok_or(CanaryError::MissingTarget {
                kind: "dns_name",
                target: "dns_zone",
            })?;
        // An rsync backup job's notes: the kind of hostname people copy and try.
        let note = format!(
            "# nightly offsite copy (cron 02:15)\n\
             rsync -az --delete /srv/data/ backup@{host}:/vol/offsite/\n\
             # restore test: ssh backup@{host} 'ls /vol/offsite'\n"
        );
        Ok(vec![Artifact::home("backup-notes.txt", note, 0o644)])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::{find, testing, Ctx};

    #[test]
    fn names_the_token_host_and_needs_a_zone() {
        let (t, a) = testing::render("dns_name");
        assert!(testing::text(&a[0]).contains(&format!("backup@{}.t.example.net:", t.slug)));
        let err = find("dns_name")
            .unwrap()
            .render(&t, &Ctx::new("http://x"))
            .unwrap_err();
        assert!(err.to_string().contains("dns_zone"));
    }
}
