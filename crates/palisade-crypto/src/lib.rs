//! Palisade's cryptography: the installation keyring, envelope encryption of
//! private fields, wrapping of tenant data keys, the email blind index and
//! password hashing.
//!
//! Primitives come from RustCrypto crates (XChaCha20-Poly1305, HMAC-SHA-256,
//! Argon2id); this crate only composes them and fixes the formats. It does no
//! I/O beyond reading and writing the keyring file.
#![warn(missing_docs)]

pub mod audit;
pub mod blind;
pub mod envelope;
pub mod error;
pub mod keyring;
pub mod password;
pub mod secret;
pub mod token;
pub mod totp;

pub use blind::email_index;
pub use envelope::{Aad, Envelope};
pub use error::CryptoError;
pub use keyring::Keyring;
pub use secret::Key32;
pub use totp::TotpSecret;
