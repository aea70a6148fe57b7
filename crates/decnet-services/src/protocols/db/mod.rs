//! Database servers: MySQL, PostgreSQL, Redis, Microsoft SQL Server and
//! MongoDB. Each decodes its wire protocol with a pure decoder from
//! [`crate::wire`] and accepts a login only when one is configured
//! ([`crate::creds::configured_login`]).

mod mariadb_accounts;
pub mod mongodb;
pub mod mssql;
pub mod mysql;
pub mod postgres;
pub mod redis;
