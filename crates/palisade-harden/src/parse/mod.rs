//! Parsers for the configuration formats the checks read.
//!
//! Each submodule owns one format and turns text (read through
//! [`crate::rootfs::RootFs`]) into typed data. Parsers never panic on any
//! input and never judge compliance: that is [`crate::eval`]'s job.

pub mod dpkg;
pub mod kube;
pub mod modprobe;
pub mod sshd;
pub mod sysctl;
pub mod systemd;
pub mod text;
