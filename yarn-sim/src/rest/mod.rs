//! The REST adapters: parse the request, call the node, render the reply. No logic here.
//!
//! Handlers return an early `Response` as their error: that is the reply, so its size is fine.
#![allow(clippy::result_large_err)]

// The web UIs: the RM UI, the web proxy, the templates both UIs use.
pub mod proxy;
pub mod ui;
pub mod web;

pub mod body;
pub mod nm;
pub mod render;
pub mod rm;
pub mod rm_app;
