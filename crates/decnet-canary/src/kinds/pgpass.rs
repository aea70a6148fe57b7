//! `~/.pgpass`: the file psql reads passwords from, with a login valid only
//! on a PostgreSQL decky.

use super::db_login::DbLogin;
use super::{Artifact, Endpoint};
use crate::token::Token;

/// `pgpass`.
pub static PGPASS: DbLogin = DbLogin {
    name: "pgpass",
    describe: "~/.pgpass with a login valid on a PostgreSQL decky",
    target: "postgres",
    endpoint: |t| &t.postgres,
    file,
};

fn file(user: &str, pass: &str, db: &Endpoint, _token: &Token) -> Artifact {
    let body = format!(
        "# hostname:port:database:username:password\n{}:{}:*:{user}:{pass}\n",
        db.host, db.port
    );
    // psql ignores a .pgpass readable by others: 0600 as in real life.
    Artifact::home(".pgpass", body, 0o600)
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
