//! Domain types of Palisade: identifiers, tenants and their resources, the
//! clock, and the RBAC model with its decision function.
//!
//! This crate is pure: no I/O, no HTTP, no SQL. Randomness and time are
//! parameters so every rule built on them is testable without sleeping.
#![warn(missing_docs)]

pub mod audit;
pub mod clock;
pub mod error;
pub mod integer;
pub mod model;
pub mod password_policy;
pub mod rbac;
pub mod schema;
pub mod screen;
pub mod uid;

pub use clock::{Clock, SystemClock, Timestamp};
pub use error::CoreError;
pub use password_policy::{PasswordPolicy, PolicyViolation};
pub use uid::Uid;
