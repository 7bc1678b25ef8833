//! Hadoop IPC, server and client side, as the Java YARN clients (YarnClient, AMRMClient,
//! NMClient) speak it: see `../shared/reference/hadoop-rpc.md`.
//!
//! The protocol logic is sans-IO (bytes in, bytes out); `server` and `client` carry it over
//! tokio TCP streams. What a port serves is a [`service::RpcService`]: the YARN protocols
//! themselves live in `yarn-sim` and map onto its ResourceManager and NodeManager nodes.

pub mod client;
pub mod connection;
pub mod proto;
pub mod sasl;
pub mod server;
pub mod service;
pub mod token;
