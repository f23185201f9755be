//! Parsers for the configuration formats the checks read.
//!
//! Each submodule owns one format and turns text (read through
//! [`crate::rootfs::RootFs`]) into typed data. Parsers never panic on any
//! input and never judge compliance: that is [`crate::eval`]'s job.

pub mod apparmor;
pub mod audit;
pub mod conf;
pub mod dpkg;
pub mod fstab;
pub mod kube;
pub mod modprobe;
pub mod pam;
pub mod sshd;
pub mod sysctl;
pub mod systemd;
pub mod text;
