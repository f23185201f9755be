//! The error type of the bus crate. Messages name what was refused and why,
//! never a seed, a master secret or a whole credentials file.

/// Errors from key derivation, JWT minting and decoding, credentials files,
/// nats-server configuration, account pushes and the agent protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// HKDF or nkeys refused to make a key (never expected with valid input).
    #[error("key derivation failed: {0}")]
    KeyDerivation(&'static str),
    /// An nkey (public key or seed) was malformed or of the wrong kind; the
    /// message says which, never the seed.
    #[error("invalid nkey: {0}")]
    InvalidKey(&'static str),
    /// Signing with an nkey failed.
    #[error("signing failed")]
    Signing,
    /// The operating system refused to provide randomness.
    #[error("the operating system's random number generator failed")]
    Random,
    /// A JWT was not three base64url parts of the NATS v2 format, or a part
    /// did not decode; the message says which.
    #[error("malformed NATS JWT: {0}")]
    JwtMalformed(&'static str),
    /// A JWT's signature does not verify against its issuer.
    #[error("NATS JWT signature does not verify against its issuer")]
    JwtSignature,
    /// A JWT is of another claim type than expected (operator, account, user).
    #[error("NATS JWT is a {found} claim, expected {expected}")]
    JwtClaimType {
        /// The type the caller asked for.
        expected: &'static str,
        /// The type the JWT carries.
        found: String,
    },
    /// A JWT's issuer is not of the key kind its claim type requires, or not
    /// the key the caller trusts.
    #[error("NATS JWT issuer refused: {0}")]
    JwtIssuer(&'static str),
    /// A JWT has expired at the time checked.
    #[error("NATS JWT expired")]
    JwtExpired,
    /// A JWT is not valid yet at the time checked.
    #[error("NATS JWT not valid yet")]
    JwtNotYetValid,
    /// A value to be put in a JWT was refused (lifetime out of bounds,
    /// invalid revocation key, limit out of range); the message says which.
    #[error("invalid claim: {0}")]
    InvalidClaim(&'static str),
    /// A credentials file could not be parsed; the message says what is
    /// wrong with it (never its content).
    #[error("invalid credentials file: {0}")]
    Creds(&'static str),
    /// A subject is not one of Palisade's bus subjects.
    #[error("invalid bus subject: {0}")]
    Subject(&'static str),
    /// An agent protocol message was refused (size, JSON, field bounds,
    /// headers that do not match the subject); the message says which.
    #[error("invalid bus message: {0}")]
    Protocol(String),
    /// A nats-server configuration parameter was refused.
    #[error("invalid nats-server configuration parameter: {0}")]
    Config(&'static str),
    /// The NATS client failed (connect, publish, request, subscribe).
    #[error("NATS: {0}")]
    Nats(String),
    /// A bounded wait ran out; the message says for what.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The nats-server answered an account push with an error.
    #[error("nats-server refused the account JWT (code {code}): {description}")]
    PushRefused {
        /// The code in the server's answer (500 for every refusal in 2.9).
        code: i64,
        /// The server's description.
        description: String,
    },
    /// A push was acknowledged but the check afterwards found it did not
    /// take effect; the message says which check failed.
    #[error("account JWT push did not take effect: {0}")]
    PushNotEffective(&'static str),
    /// An answer from nats-server could not be understood.
    #[error("unexpected answer from nats-server: {0}")]
    ServerAnswer(&'static str),
}

impl From<nkeys::error::Error> for BusError {
    fn from(e: nkeys::error::Error) -> Self {
        // nkeys errors carry a kind and a short description, never the seed;
        // still, map to fixed texts so nothing of the input can leak.
        use nkeys::error::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidPrefix => BusError::InvalidKey("wrong key kind (prefix)"),
            ErrorKind::InvalidKeyLength => BusError::InvalidKey("wrong length"),
            ErrorKind::ChecksumFailure => BusError::InvalidKey("checksum mismatch"),
            ErrorKind::CodecFailure => BusError::InvalidKey("not base32"),
            ErrorKind::VerifyError | ErrorKind::SignatureError => BusError::JwtSignature,
            ErrorKind::IncorrectKeyType => BusError::InvalidKey("public-only key cannot sign"),
            _ => BusError::InvalidKey("rejected"),
        }
    }
}
