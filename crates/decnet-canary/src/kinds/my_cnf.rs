//! `~/.my.cnf`: the client options file the mysql CLI reads, with a login
//! valid only on a MySQL decky.

use super::db_login::DbLogin;
use super::{Artifact, Endpoint};
use crate::token::Token;

/// `my_cnf`.
pub static MY_CNF: DbLogin = DbLogin {
    name: "my_cnf",
    describe: "~/.my.cnf with a login valid on a MySQL decky",
    target: "mysql",
    endpoint: |t| &t.mysql,
    file,
};

fn file(user: &str, pass: &str, db: &Endpoint, _token: &Token) -> Artifact {
    let body = format!(
        "[client]\nuser={user}\npassword={pass}\nhost={}\nport={}\n\n[mysqldump]\nsingle-transaction\n",
        db.host, db.port
    );
    Artifact::home(".my.cnf", body, 0o600)
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
