//! A repository's `.git/config` whose `origin` is on a git decky (or the
//! HTTP receiver), with a deploy login in the URL as people paste them.
//! `git fetch` asks for the unique repository path, and after the server's
//! 401 sends the login: either names the token.

use rand::RngCore;

use super::{cred, Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::secrets;
use crate::token::{Credential, Token};

/// `git_config`.
pub struct GitConfig;

impl TokenKind for GitConfig {
    fn name(&self) -> &'static str {
        "git_config"
    }
    fn describe(&self) -> &'static str {
        "git repository config whose remote (with a deploy login) is a decky"
    }
    fn is_credential(&self) -> bool {
        true
    }
    fn mint(&self, rng: &mut dyn RngCore) -> CanaryResult<Vec<Credential>> {
        Ok(vec![secrets::repo_path(rng), secrets::login(rng)])
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let path = cred(token, |c| match c {
            Credential::RepoPath { path } => Some(path),
            _ => None,
        })?;
        let (user, pass) = token.login().unwrap_or_default();
        let remote = match &ctx.targets.git {
            Some(g) => format!("http://{user}:{pass}@{}{path}", g.authority()),
            None => {
                let (scheme, _) = ctx.http_base.split_once("://").unwrap_or(("http", ""));
                format!("{scheme}://{user}:{pass}@{}{path}", ctx.http_host())
            }
        };
        let repo = path
            .rsplit('/')
            .next()
            .unwrap_or("repo.git")
            .trim_end_matches(".git");
        let config = format!(
            "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n\
             [remote \"origin\"]\n\turl = {remote}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n\
             [branch \"main\"]\n\tremote = origin\n\tmerge = refs/heads/main\n"
        );
        Ok(vec![Artifact::home(
            &format!("src/{repo}/.git/config"),
            config,
            0o644,
        )])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;
    use crate::token::Credential;

    #[test]
    fn remote_carries_login_and_unique_path() {
        let (t, a) = testing::render("git_config");
        let Credential::RepoPath { path } = &t.credentials[0] else {
            unreachable!()
        };
        let (u, p) = t.login().unwrap();
        let text = testing::text(&a[0]);
        assert!(
            text.contains(&format!("\turl = http://{u}:{p}@10.0.0.20:80{path}\n")),
            "{text}"
        );
        assert!(path.starts_with('/') && path.ends_with(".git"));
        assert!(
            matches!(&a[0].location, crate::kinds::Location::Home(r) if r.ends_with("/.git/config"))
        );
    }
}
