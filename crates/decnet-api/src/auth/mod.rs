//! Authentication: passwords (argon2id), bearer tokens (HS256 JWT,
//! `uuid jti iat exp iss aud`), the login rate limiter, SSE tickets and the
//! role extractors.
//!
//! Only [`roles`] depends on the application state; the rest are leaves
//! that the state itself is built from.

pub mod limiter;
pub mod password;
pub mod roles;
pub mod tickets;
pub mod token;

pub use limiter::RateLimiter;
pub use password::{
    hash_password, hash_password_blocking, new_user, random_password, verify_password,
    verify_password_blocking,
};
pub use roles::{resolve_token, Admin, Authenticated, StreamViewer, Viewer};
pub use tickets::Tickets;
pub use token::{claims_expiry, Claims, CurrentUser, Keys, AUDIENCE, ISSUER, TOKEN_TTL};
