//! A `.env` of a web application: database URL with a login valid only on
//! a database decky, AWS keys, and a webhook URL that calls home.

use rand::RngCore;

use super::{cred, Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::secrets;
use crate::token::{Credential, Token};

/// `env_file`.
pub struct EnvFile;

impl TokenKind for EnvFile {
    fn name(&self) -> &'static str {
        "env_file"
    }
    fn describe(&self) -> &'static str {
        "Application .env with database login, AWS keys and a webhook URL"
    }
    fn is_credential(&self) -> bool {
        true
    }
    fn mint(&self, rng: &mut dyn RngCore) -> CanaryResult<Vec<Credential>> {
        Ok(vec![secrets::login(rng), secrets::aws_key(rng)])
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let (user, pass) = cred(token, |c| match c {
            Credential::Login { username, password } => Some((username, password)),
            _ => None,
        })?;
        let (key_id, secret) = token.aws_key().unwrap_or_default();
        let t = &ctx.targets;
        // Prefer MySQL, then PostgreSQL; the receiver's host otherwise (the
        // login still names the token wherever it is tried).
        let db_url = match (&t.mysql, &t.postgres) {
            (Some(m), _) => format!("mysql://{user}:{pass}@{}/app_production", m.authority()),
            (None, Some(p)) => format!("postgres://{user}:{pass}@{}/app_production", p.authority()),
            (None, None) => format!(
                "mysql://{user}:{pass}@{}:3306/app_production",
                ctx.http_endpoint().host
            ),
        };
        let body = format!(
            "APP_NAME=portal\n\
             APP_ENV=production\n\
             APP_DEBUG=false\n\
             APP_URL=https://portal.internal\n\
             \n\
             DATABASE_URL={db_url}\n\
             DB_USERNAME={user}\n\
             DB_PASSWORD={pass}\n\
             \n\
             AWS_ACCESS_KEY_ID={key_id}\n\
             AWS_SECRET_ACCESS_KEY={secret}\n\
             AWS_DEFAULT_REGION=eu-west-1\n\
             AWS_BUCKET=portal-uploads-prod\n\
             \n\
             DEPLOY_WEBHOOK_URL={}\n\
             MAIL_MAILER=smtp\n\
             MAIL_HOST=smtp.internal\n\
             MAIL_PORT=587\n",
            ctx.url("hooks", &token.slug, "deploy")
        );
        Ok(vec![Artifact::home("app/.env", body, 0o600)])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;

    #[test]
    fn every_line_is_key_value_and_carries_the_secrets() {
        let (t, a) = testing::render("env_file");
        let text = testing::text(&a[0]);
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (k, _) = line.split_once('=').expect(line);
            assert!(
                k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{line}"
            );
        }
        let (user, pass) = t.login().unwrap();
        assert!(text.contains(&format!("mysql://{user}:{pass}@10.0.0.20:3306/")));
        assert!(text.contains(t.aws_key().unwrap().0));
        assert!(text.contains(&format!("/hooks/{}/deploy", t.slug)));
        assert_eq!(a[0].mode, 0o600);
    }
}
