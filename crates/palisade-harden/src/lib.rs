//! `palisade-harden`: CIS host and Kubernetes-node hardening scanner and
//! fixer.
//!
//! The crate scans a live system (`/`) or any root directory (an unpacked
//! image, a chroot, a mounted disk) against a check catalogue kept as data
//! ([`catalogue`]), evaluated by typed evaluators ([`eval`]) over real
//! parsers ([`parse`]); it remediates idempotently with a journal
//! ([`mod@fix`]) and reports as a table, JSON, JUnit XML or SARIF ([`report`]).
//! [`cli`] is the `palisade harden …` entry the binary calls.
//!
//! Everything under the root is read through [`rootfs::RootFs`], which
//! resolves symlinks inside the root so nothing outside it is touched.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalogue;
pub mod cli;
pub mod error;
pub mod eval;
pub mod fix;
pub mod parse;
pub mod report;
pub mod rootfs;
pub mod scan;

pub use error::{Error, Result};
pub use fix::{FixOptions, Journal, fix, rollback};
pub use report::{Finding, Report, Status};
pub use scan::{scan, scan_with_progress};
