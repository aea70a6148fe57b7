//! Passwords: argon2id hashing (on the blocking pool) and verification
//! that costs the same whether or not the user exists.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::RngCore;

use crate::error::ApiError;
use decnet_store::{Role, User};

/// Hashes a password with argon2id (on the blocking pool: it is CPU-heavy).
pub async fn hash_password(password: &str) -> Result<String, ApiError> {
    let pw = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password_blocking(&pw))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// A new account: fresh id, `password` hashed, created (and its password
/// set) now. The one place the API, the admin bootstrap and the CLI build a
/// user, so they cannot disagree on what a new account holds.
pub async fn new_user(
    username: String,
    password: &str,
    role: Role,
    must_change_password: bool,
) -> Result<User, ApiError> {
    let password_hash = hash_password(password).await?;
    let now = chrono::Utc::now();
    Ok(User {
        uuid: uuid::Uuid::new_v4(),
        username,
        password_hash,
        role,
        must_change_password,
        password_changed_at: now,
        created_at: now,
    })
}

/// Synchronous argon2id hash, for the CLI.
pub fn hash_password_blocking(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Verifies a password against a PHC string; false on any malformed hash.
pub fn verify_password_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Async wrapper of [`verify_password_blocking`]. With `None` it burns the
/// same time against a dummy hash so unknown usernames are not faster.
pub async fn verify_password(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let pw = password.to_owned();
    let known = phc.is_some();
    let phc = match phc {
        Some(p) => p.to_owned(),
        None => DUMMY
            .get_or_init(|| hash_password_blocking("decnet-dummy-password").unwrap_or_default())
            .clone(),
    };
    tokio::task::spawn_blocking(move || verify_password_blocking(&pw, &phc))
        .await
        .unwrap_or(false)
        && known
}

/// A random password: 20 characters from an unambiguous alphabet.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hashes_verify() {
        let h = hash_password_blocking("s3cret-pass").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password_blocking("s3cret-pass", &h));
        assert!(!verify_password_blocking("wrong", &h));
        assert!(!verify_password_blocking("x", "not a hash"));
    }
}
