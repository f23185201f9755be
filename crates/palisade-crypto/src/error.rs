//! The error type of the crypto crate. Messages never contain key material
//! or plaintext.

/// Errors from keyring handling, envelopes and password hashing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The envelope text is not `pal1.<version>.<base64url>` or is too short.
    #[error("malformed envelope: {0}")]
    MalformedEnvelope(&'static str),
    /// The envelope names a key version the keyring does not hold.
    #[error("envelope sealed with key version {0}, which this keyring does not hold")]
    UnknownKeyVersion(u32),
    /// Authentication failed: wrong key, modified ciphertext, or a ciphertext
    /// that belongs to another tenant, table, column or row.
    #[error(
        "envelope failed authentication: it was modified, sealed with another key, or belongs to another tenant, table, column or row"
    )]
    Authentication,
    /// Decrypted bytes were not valid UTF-8 where text was expected.
    #[error("decrypted value is not valid UTF-8")]
    NotUtf8,
    /// The keyring file could not be read or written.
    #[error("keyring file {path}: {source}")]
    KeyringIo {
        /// The file concerned.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The keyring file is readable or writable by group or others.
    #[error(
        "keyring file {path} has mode {mode:04o}; it must not be accessible by group or others (chmod 600 {path})"
    )]
    KeyringPermissions {
        /// The file concerned.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The keyring text is not a valid keyring.
    #[error("keyring is corrupt or not a Palisade keyring: {0}")]
    KeyringFormat(String),
    /// The operating system refused to provide randomness.
    #[error("the operating system's random number generator failed")]
    Random,
    /// Password hashing failed (parameters or an unparseable stored hash).
    #[error("password hashing: {0}")]
    Password(String),
    /// A TOTP secret, enrolment URI or QR code could not be made; the message
    /// says which input was refused (never its value).
    #[error("TOTP: {0}")]
    Totp(&'static str),
}
