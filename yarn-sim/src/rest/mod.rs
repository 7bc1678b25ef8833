//! The REST adapters: parse the request, call the node, render the reply. No logic here.
//!
//! Handlers return an early `Response` as their error: that is the reply, so its size is fine.
#![allow(clippy::result_large_err)]

pub mod body;
pub mod nm;
pub mod proxy;
pub mod render;
pub mod rm;
pub mod ui;
pub mod web;
