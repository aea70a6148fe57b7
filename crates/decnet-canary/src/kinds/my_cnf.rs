//! `~/.my.cnf`: the client options file the mysql CLI reads, with a login
//! valid only on a MySQL decky.

use rand::RngCore;

use super::mysql_dump::db_login;
use super::{Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::secrets;
use crate::token::{Credential, Token};

/// `my_cnf`.
pub struct MyCnf;

impl TokenKind for MyCnf {
    fn name(&self) -> &'static str {
        "my_cnf"
    }
    fn describe(&self) -> &'static str {
        "~/.my.cnf with a login valid on a MySQL decky"
    }
    fn is_credential(&self) -> bool {
        true
    }
    fn mint(&self, rng: &mut dyn RngCore) -> CanaryResult<Vec<Credential>> {
        Ok(vec![secrets::login(rng)])
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let (user, pass) = db_login(token)?;
        let db = Ctx::need("my_cnf", "mysql", &ctx.targets.mysql)?;
        let body = format!(
            "[client]\nuser={user}\npassword={pass}\nhost={}\nport={}\n\n[mysqldump]\nsingle-transaction\n",
            db.host, db.port
        );
        Ok(vec![Artifact::home(".my.cnf", body, 0o600)])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;

    #[test]
    fn client_section_has_login_and_host() {
        let (t, a) = testing::render("my_cnf");
        let (u, p) = t.login().unwrap();
        let text = testing::text(&a[0]);
        assert!(text.starts_with("[client]\n"));
        assert!(text.contains(&format!(
            "\nuser={u}\npassword={p}\nhost=10.0.0.20\nport=3306\n"
        )));
    }
}
