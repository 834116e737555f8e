//! The `coffer` binary's readers of operator files: the configuration file ([`config`]) and
//! seed files ([`seed`]). A library so that the fuzz targets in `fuzz/` read exactly what the
//! server reads; everything else of the binary lives in `main.rs` and its modules.
#![forbid(unsafe_code)]

pub mod config;
pub mod seed;
