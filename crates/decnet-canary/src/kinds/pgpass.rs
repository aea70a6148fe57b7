//! `~/.pgpass`: the file psql reads passwords from, with a login valid only
//! on a PostgreSQL decky.

use rand::RngCore;

use super::mysql_dump::db_login;
use super::{Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::secrets;
use crate::token::{Credential, Token};

/// `pgpass`.
pub struct Pgpass;

impl TokenKind for Pgpass {
    fn name(&self) -> &'static str {
        "pgpass"
    }
    fn describe(&self) -> &'static str {
        "~/.pgpass with a login valid on a PostgreSQL decky"
    }
    fn is_credential(&self) -> bool {
        true
    }
    fn mint(&self, rng: &mut dyn RngCore) -> CanaryResult<Vec<Credential>> {
        Ok(vec![secrets::login(rng)])
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let (user, pass) = db_login(token)?;
        let db = Ctx::need("pgpass", "postgres", &ctx.targets.postgres)?;
        let body = format!(
            "# hostname:port:database:username:password\n{}:{}:*:{user}:{pass}\n",
            db.host, db.port
        );
        // psql ignores a .pgpass readable by others: 0600 as in real life.
        Ok(vec![Artifact::home(".pgpass", body, 0o600)])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;

    #[test]
    fn five_fields_as_psql_reads_them() {
        let (t, a) = testing::render("pgpass");
        let line = testing::text(&a[0]).lines().nth(1).unwrap();
        let f: Vec<&str> = line.split(':').collect();
        let (u, p) = t.login().unwrap();
        assert_eq!(f, ["10.0.0.20", "5432", "*", u, p]);
        assert_eq!(a[0].mode, 0o600);
    }
}
