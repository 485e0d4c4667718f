//! Wharf: a universal package feed server, compatible with the `ProGet`
//! Universal Feed API.
//!
//! Layers, with dependencies pointing one way (see `docs/ARCHITECTURE.md`):
//! `http` -> `service` -> { `db`, `blob`, `upack` } -> `domain`.

pub mod blob;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod service;
pub mod startup;
pub mod supervisor;
pub mod telemetry;
pub mod upack;
