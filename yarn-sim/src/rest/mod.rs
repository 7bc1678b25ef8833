//! The REST adapters: parse the request, call the node, render the reply. No logic here.

pub mod body;
pub mod nm;
pub mod render;
pub mod rm;
