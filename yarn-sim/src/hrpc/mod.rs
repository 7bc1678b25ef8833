//! YARN over Hadoop RPC (issue 11): YARN's protobuf messages ([`pb`]), conversions between
//! them and this crate's records ([`convert`]), and the ResourceManager's
//! ApplicationClientProtocol and ApplicationMasterProtocol as a [`hadoop_rpc::service::RpcService`]
//! ([`rm_service`]) over the live RM node, and the NodeManager's ContainerManagementProtocol
//! ([`nm_service`]) over the live NM node. Wire facts: `../shared/reference/hadoop-rpc.md`.

pub mod convert;
pub mod nm_service;
pub mod pb;
pub mod rm_service;
