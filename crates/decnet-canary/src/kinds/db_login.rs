//! The database kinds share one shape: a unique login minted once, and one
//! file that hands it out for a MySQL or PostgreSQL decky.

use rand::RngCore;

use super::{cred, Artifact, Ctx, Endpoint, Targets, TokenKind};
use crate::error::CanaryResult;
use crate::secrets;
use crate::token::{Credential, Token};

/// A database-login kind.
pub struct DbLogin {
    /// Registry name.
    pub name: &'static str,
    /// One line for people.
    pub describe: &'static str,
    /// Which decky it points at (`mysql`, `postgres`).
    pub target: &'static str,
    /// That decky among the targets.
    pub endpoint: fn(&Targets) -> &Option<Endpoint>,
    /// The file, from the login and the decky.
    pub file: fn(user: &str, pass: &str, db: &Endpoint, token: &Token) -> Artifact,
}

impl TokenKind for DbLogin {
    fn name(&self) -> &'static str {
        self.name
    }
    fn describe(&self) -> &'static str {
        self.describe
    }
    fn is_credential(&self) -> bool {
        true
    }
    fn mint(&self, rng: &mut dyn RngCore) -> CanaryResult<Vec<Credential>> {
        Ok(vec![secrets::login(rng)])
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let (user, pass) = cred(token, |c| match c {
            Credential::Login { username, password } => {
                Some((username.as_str(), password.as_str()))
            }
            _ => None,
        })?;
        let db = Ctx::need(self.name, self.target, (self.endpoint)(&ctx.targets))?;
        Ok(vec![(self.file)(user, pass, db, token)])
    }
}
