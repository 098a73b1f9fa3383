//! hardend: applies host-hardening profiles to Docker and Kubernetes nodes and keeps them applied.
//!
//! The pipeline is `profile` (TOML → validated controls) → `engine` (check, plan, apply, rollback)
//! → `kinds` (one module per control kind) over the symlink-safe `fs` layer and the backup
//! `store`, with results rendered by `report`.

pub mod apparmor;
pub mod audit;
pub mod cli;
pub mod components;
pub mod content_cache;
pub mod daemon;
pub mod diag;
pub mod docker;
pub mod engine;
pub mod fs;
pub mod journal;
pub mod kinds;
pub mod kubelet;
pub mod metrics;
pub mod profile;
pub mod report;
pub mod sandbox;
pub mod seccomp;
pub mod service;
pub mod settings;
pub mod store;
pub mod sys;
pub mod sysctl;
pub mod unit;
pub mod watch;
