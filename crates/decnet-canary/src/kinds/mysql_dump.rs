//! A mysqldump of an application database whose settings table holds the
//! reporting replica's login: valid only on a MySQL decky.

use super::db_login::DbLogin;
use super::{Artifact, Endpoint};
use crate::token::Token;

/// `mysql_dump`.
pub static MYSQL_DUMP: DbLogin = DbLogin {
    name: "mysql_dump",
    describe: "MySQL dump holding a database login valid on a MySQL decky",
    target: "mysql",
    endpoint: |t| &t.mysql,
    file,
};

fn file(user: &str, pass: &str, db: &Endpoint, token: &Token) -> Artifact {
    let date = token.created_at.format("%Y-%m-%d %H:%M:%S");
    let dump = format!(
        "-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n\
         --\n\
         -- Host: {host}    Database: crm\n\
         -- ------------------------------------------------------\n\
         -- Server version\t8.0.36\n\
         \n\
         /*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n\
         /*!50503 SET NAMES utf8mb4 */;\n\
         /*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n\
         \n\
         --\n\
         -- Table structure for table `integration_settings`\n\
         --\n\
         \n\
         DROP TABLE IF EXISTS `integration_settings`;\n\
         CREATE TABLE `integration_settings` (\n\
         \x20 `id` int NOT NULL AUTO_INCREMENT,\n\
         \x20 `name` varchar(64) NOT NULL,\n\
         \x20 `value` text NOT NULL,\n\
         \x20 PRIMARY KEY (`id`)\n\
         ) ENGINE=InnoDB AUTO_INCREMENT=6 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;\n\
         \n\
         LOCK TABLES `integration_settings` WRITE;\n\
         INSERT INTO `integration_settings` VALUES (1,'reporting.db.host','{host}'),(2,'reporting.db.port','{port}'),\
         (3,'reporting.db.user','{user}'),(4,'reporting.db.password','{pass}'),(5,'reporting.db.name','crm');\n\
         UNLOCK TABLES;\n\
         \n\
         /*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;\n\
         /*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;\n\
         \n\
         -- Dump completed on {date}\n",
        host = db.host,
        port = db.port,
    );
    Artifact::home("backups/crm-db.sql", dump, 0o640)
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;

    #[test]
    fn dump_holds_the_login_in_sql_rows() {
        let (t, a) = testing::render("mysql_dump");
        let (u, p) = t.login().unwrap();
        let text = testing::text(&a[0]);
        assert!(text.starts_with("-- MySQL dump"));
        assert!(text.contains(&format!("'reporting.db.user','{u}'")));
        assert!(text.contains(&format!("'reporting.db.password','{p}'")));
        assert!(text.contains("'reporting.db.host','10.0.0.20'"));
        // Balanced quotes: a real `mysql < dump` would parse it.
        assert_eq!(text.matches('\'').count() % 2, 0);
    }
}
