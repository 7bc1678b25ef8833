//! The RM's secret managers, as YARN splits them: `AMRMTokenSecretManager` (the token an AM
//! authenticates to the ApplicationMasterProtocol with), `NMTokenSecretManagerInRM` (the
//! tokens an AM authenticates to a NodeManager with) and `RMContainerTokenSecretManager` (the
//! token that authorizes one container start). Each holds a master key drawn from the node's
//! RNG at start; a password is `HmacSHA1(key, identifier bytes)` (hadoop-rpc's
//! `token::password`). The NM keys go to every NodeManager in its registration response, so an
//! NM verifies NM and container tokens without asking the RM; the keys are kept with the
//! state store so tokens handed out before an RM restart stay valid after it.
//!
//! YARN rolls its keys (`yarn.resourcemanager.am-rm-tokens.master-key-rolling-interval-secs`,
//! a day); this harness keeps one key per cluster lifetime, so no token ever needs renewing.

use engine::{Cx, Time};
use hadoop_rpc::token::{self, Credentials, Token};
use prost::Message;
use rand::{Rng as _, RngCore as _};
use serde::{Deserialize, Serialize};

use crate::hrpc::convert;
use crate::hrpc::pb;
use crate::ids::{ApplicationAttemptId, NodeId};
use crate::proto::MasterKey;
use crate::records::Container;

use super::ResourceManager;

/// Key length in bytes (Hadoop's `hadoop.security.secret-manager.key-length` is 64).
const KEY_BYTES: usize = 64;

/// The three master keys, as the state store keeps them.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct SecretKeys {
    /// `AMRMTokenSecretManagerState.currentMasterKey`.
    pub amrm_master_key: MasterKey,
    pub container_token_master_key: MasterKey,
    pub nm_token_master_key: MasterKey,
}

fn new_key(cx: &mut Cx) -> MasterKey {
    let mut bytes = vec![0u8; KEY_BYTES];
    cx.rng().fill_bytes(&mut bytes);
    // YARN's key ids are random ints too (they only have to differ across rolls).
    MasterKey { key_id: cx.rng().random::<i32>(), bytes }
}

impl SecretKeys {
    pub fn generate(cx: &mut Cx) -> SecretKeys {
        SecretKeys { amrm_master_key: new_key(cx), container_token_master_key: new_key(cx), nm_token_master_key: new_key(cx) }
    }
}

impl ResourceManager {
    /// The keys this RM signs with (empty before `on_start`).
    pub fn secret_keys(&self) -> &SecretKeys {
        &self.secrets
    }

    /// With recovery on, before anything is recovered: the stored keys, if the store has them.
    /// An unreadable keys node refuses the store, like any corrupt node.
    pub(super) fn load_secrets(&mut self, cx: &mut Cx) -> Result<(), String> {
        let root = self.conf.state_store_root.clone();
        if let Some(k) = super::statestore::load_secret_keys(cx.store(), &root)? {
            self.secrets = k;
        }
        Ok(())
    }

    /// At start, after recovery: fresh keys unless the store gave some (and with recovery on,
    /// stored for the next start).
    pub(super) fn init_secrets(&mut self, cx: &mut Cx) {
        if self.secrets != SecretKeys::default() {
            return;
        }
        self.secrets = SecretKeys::generate(cx);
        if self.conf.recovery_enabled {
            let root = self.conf.state_store_root.clone();
            if let Err(e) = super::statestore::store_secret_keys(cx.store(), &root, &self.secrets) {
                cx.trace("rm.statestore.error", format!("storing the secret manager keys failed: {e}"));
            }
        }
    }

    /// The AMRM token of `attempt` (AMRMTokenSecretManager.createAndGetAMRMToken), for the
    /// scheduler at `service` (`ip:port`).
    pub fn amrm_token(&self, attempt: ApplicationAttemptId, service: &str) -> Token {
        let key = &self.secrets.amrm_master_key;
        let id = pb::AmrmTokenIdentifierProto { app_attempt_id: Some(convert::attempt_id_to_pb(attempt)), key_id: Some(key.key_id) };
        Token::mint(&key.bytes, id.encode_to_vec(), pb::kind::AMRM_TOKEN, service)
    }

    /// `AMRMTokenSecretManager.retrievePassword`: the password of an AMRM token identifier if
    /// it names an attempt the RM still serves and this RM's key, with the attempt it names.
    pub fn amrm_token_password(&self, identifier: &[u8]) -> Result<(ApplicationAttemptId, Vec<u8>), String> {
        let id = pb::AmrmTokenIdentifierProto::decode(identifier).map_err(|e| format!("Malformed AMRMTokenIdentifier: {e}"))?;
        let attempt = id
            .app_attempt_id
            .as_ref()
            .ok_or_else(|| "AMRMTokenIdentifier without an application attempt".to_string())
            .and_then(|a| convert::attempt_id_from_pb(a).map_err(|e| e.message))?;
        let live = self.attempt(attempt).is_some_and(|at| !at.state.is_final());
        if !live {
            return Err(format!("{attempt} not found in AMRMTokenSecretManager."));
        }
        let key = &self.secrets.amrm_master_key;
        if id.key_id() != key.key_id {
            return Err(format!("Invalid AMRMToken from {attempt}"));
        }
        Ok((attempt, token::password(&key.bytes, identifier)))
    }

    /// The AM container's credentials (AMLauncher.setupTokens): the submission's tokens, if
    /// any, plus the attempt's AMRM token under its service as alias, in Hadoop's WRITABLE
    /// token-storage format.
    pub(super) fn am_launch_tokens(&self, attempt: ApplicationAttemptId, submitted: Option<&[u8]>, service: &str) -> Vec<u8> {
        // The submission's blob was checked at submit; an unreadable one cannot get here.
        let mut creds = submitted.and_then(|b| Credentials::from_bytes(b).ok()).unwrap_or_default();
        let t = self.amrm_token(attempt, service);
        creds.add_token(&t.service.clone(), t);
        creds.to_writable_bytes()
    }

    /// An NM token for `attempt` on `node` (NMTokenSecretManagerInRM.createNMToken), kind
    /// `NMToken`, service the NM's `ip:port`.
    pub fn nm_token(&self, attempt: ApplicationAttemptId, node: &NodeId, app_submitter: &str) -> Token {
        let key = &self.secrets.nm_token_master_key;
        let id = pb::NmTokenIdentifierProto {
            app_attempt_id: Some(convert::attempt_id_to_pb(attempt)),
            node_id: Some(convert::node_id_to_pb(node)),
            app_submitter: Some(app_submitter.to_string()),
            key_id: Some(key.key_id),
        };
        Token::mint(&key.bytes, id.encode_to_vec(), pb::kind::NM_TOKEN, &node.to_string())
    }

    /// The container token of `c` (RMContainerTokenSecretManager.createContainerToken): it
    /// expires with the allocation (`rm.container-allocation.expiry-interval-ms` after it was
    /// allocated), as YARN's does.
    pub fn container_token(&self, c: &Container, app_submitter: &str, allocated_at: Time, is_am: bool) -> Token {
        let key = &self.secrets.container_token_master_key;
        let created = allocated_at.as_millis() as i64;
        let expiry = created.saturating_add(self.conf.container_alloc_expiry.as_millis() as i64);
        let id = pb::ContainerTokenIdentifierProto {
            container_id: Some(convert::container_id_to_pb(c.id)),
            nm_host_addr: Some(c.node_id.to_string()),
            app_submitter: Some(app_submitter.to_string()),
            resource: Some(convert::resource_to_pb(c.resource)),
            expiry_time_stamp: Some(expiry),
            master_key_id: Some(key.key_id),
            rm_identifier: Some(self.cluster_ts as i64),
            priority: Some(pb::PriorityProto { priority: Some(c.priority) }),
            creation_time: Some(created),
            container_type: Some(if is_am { pb::ContainerTypeProto::ApplicationMaster } else { pb::ContainerTypeProto::Task } as i32),
            execution_type: Some(pb::ExecutionTypeProto::Guaranteed as i32),
            version: Some(0),
            allocation_request_id: Some(c.allocation_request_id),
            ..Default::default()
        };
        Token::mint(&key.bytes, id.encode_to_vec(), pb::kind::CONTAINER_TOKEN, &c.node_id.to_string())
    }
}
