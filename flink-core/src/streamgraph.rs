//! The StreamGraph (one node per operator, as the program wrote it) and its translation to a
//! JobGraph with Flink's chaining rules (`StreamingJobGraphGenerator.isChainable`).

use crate::graph::{JobEdge, JobGraph, JobType, JobVertex, RestartStrategy, ShipStrategy};
use crate::ids::{JobId, JobVertexId};
use crate::operator::OperatorSpec;

/// How a node reads its input, as the program asked for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partitioning {
    /// Nothing asked: forward when parallelisms match, else rebalance (Flink's default).
    Default,
    /// `keyBy(key)`.
    KeyBy(usize),
    /// `rebalance()`.
    Rebalance,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StreamEdge {
    /// Index of the upstream node in `StreamGraph::nodes`.
    pub source: usize,
    pub partitioning: Partitioning,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StreamNode {
    pub operator: OperatorSpec,
    pub parallelism: u32,
    pub inputs: Vec<StreamEdge>,
    /// `disableChaining()`: the operator chains neither with its input nor its output.
    pub chaining_disabled: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StreamGraph {
    pub name: String,
    pub job_type: JobType,
    /// In topological order: a node's inputs come before it.
    pub nodes: Vec<StreamNode>,
    pub restart_strategy: RestartStrategy,
}

pub use crate::keygroup::default_max_parallelism;

impl StreamGraph {
    /// The ship strategy an edge resolves to.
    pub fn ship_strategy(&self, node: usize, edge: &StreamEdge) -> ShipStrategy {
        match edge.partitioning {
            Partitioning::KeyBy(key) => ShipStrategy::Hash { key },
            Partitioning::Rebalance => ShipStrategy::Rebalance,
            Partitioning::Default if self.nodes[edge.source].parallelism == self.nodes[node].parallelism => ShipStrategy::Forward,
            Partitioning::Default => ShipStrategy::Rebalance,
        }
    }

    fn outputs(&self, node: usize) -> usize {
        self.nodes.iter().flat_map(|n| &n.inputs).filter(|e| e.source == node).count()
    }

    /// Whether `node` chains onto its (single) input: a forward edge, equal parallelism,
    /// chaining enabled on both ends, the downstream has exactly this input, and (our chains
    /// are linear) the upstream has exactly this output.
    pub fn chains_with_input(&self, node: usize) -> bool {
        let n = &self.nodes[node];
        let [edge] = n.inputs.as_slice() else { return false };
        let up = &self.nodes[edge.source];
        self.ship_strategy(node, edge) == ShipStrategy::Forward
            && up.parallelism == n.parallelism
            && !n.chaining_disabled
            && !up.chaining_disabled
            && self.outputs(edge.source) == 1
    }

    /// Checks the stream graph is well formed (topological, sources exactly at the roots).
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("No operators defined in streaming topology. Cannot execute.".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.parallelism == 0 {
                return Err(format!("Operator '{}' has parallelism 0; it must be at least 1", n.operator.name()));
            }
            if n.inputs.iter().any(|e| e.source >= i) {
                return Err(format!("Operator '{}' reads from an operator that is not before it", n.operator.name()));
            }
            if n.inputs.is_empty() != n.operator.is_source() {
                return Err(format!("Operator '{}' must be a source exactly when it has no inputs", n.operator.name()));
            }
        }
        Ok(())
    }

    /// Translates to a JobGraph: chains operators, one vertex per chain (named by its operators
    /// joined with " -> "), in topological order. `next_id` supplies vertex ids.
    pub fn to_job_graph(&self, job_id: JobId, next_id: &mut dyn FnMut() -> u128) -> Result<JobGraph, String> {
        self.validate()?;
        // chain_of[node] = index of the vertex holding it.
        let mut chain_of = vec![0usize; self.nodes.len()];
        let mut vertices: Vec<JobVertex> = Vec::new();
        let mut names: Vec<Vec<String>> = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if self.chains_with_input(i) {
                let v = chain_of[n.inputs[0].source];
                vertices[v].operators.push(n.operator.clone());
                names[v].push(n.operator.name());
                chain_of[i] = v;
                continue;
            }
            let inputs =
                n.inputs.iter().map(|e| JobEdge { source: vertices[chain_of[e.source]].id, ship: self.ship_strategy(i, e) }).collect();
            chain_of[i] = vertices.len();
            vertices.push(JobVertex {
                id: JobVertexId(next_id()),
                name: String::new(),
                parallelism: n.parallelism,
                max_parallelism: default_max_parallelism(n.parallelism),
                operators: vec![n.operator.clone()],
                inputs,
                slot_sharing_group: "default".into(),
                uid: String::new(),
            });
            names.push(vec![n.operator.name()]);
        }
        for (v, ns) in vertices.iter_mut().zip(names) {
            v.name = ns.join(" -> ");
        }
        let mut graph = JobGraph {
            job_id,
            name: self.name.clone(),
            job_type: self.job_type,
            vertices,
            restart_strategy: self.restart_strategy.clone(),
            failover_strategy: crate::graph::FailoverStrategy::default(),
            checkpointing: None,
            savepoint_restore: None,
            buffer_timeout_ms: crate::graph::default_buffer_timeout_ms(),
        };
        let uids = vertex_uids(&graph.vertices);
        for (v, uid) in graph.vertices.iter_mut().zip(uids) {
            v.uid = uid;
        }
        graph.validate()?;
        Ok(graph)
    }
}

/// What of an operator goes into its uid: its kind as the plan names it, without arguments
/// that may change between runs of the same program (a source's input path).
fn uid_token(op: &OperatorSpec) -> String {
    match op {
        OperatorSpec::Source { source: crate::operator::SourceSpec::TextFile { .. } } => "Source: File".into(),
        other => other.name(),
    }
}

/// Stable uids for vertices in topological order (Flink's `StreamGraphHasherV2` idea: a hash of
/// the node's position and what feeds it, not a random id). A vertex's uid hashes its index,
/// its chain's operator kinds, and each input's uid and ship strategy; parallelism is left out
/// so a rescaled program keeps its uids. 32 hex digits, like Flink's OperatorID.
pub fn vertex_uids(vertices: &[JobVertex]) -> Vec<String> {
    let mut uids: Vec<String> = Vec::with_capacity(vertices.len());
    for (i, v) in vertices.iter().enumerate() {
        let mut text = format!("{i}|");
        for op in &v.operators {
            text.push_str(&uid_token(op));
            text.push('|');
        }
        for e in &v.inputs {
            let src = vertices.iter().position(|x| x.id == e.source).map(|k| uids[k].as_str()).unwrap_or("?");
            text.push_str(&format!("<{src}:{}", e.ship.name()));
        }
        // Two FNV-1a 64-bit passes with different offsets make 128 bits.
        let fnv = |offset: u64| text.bytes().fold(offset, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
        uids.push(format!("{:016x}{:016x}", fnv(0xcbf2_9ce4_8422_2325), fnv(0x6c62_272e_07bb_0142)));
    }
    uids
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::operator::{Aggregate, FlatMapFn, MapFn, SinkSpec, SourceSpec};

    fn node(operator: OperatorSpec, parallelism: u32, input: Option<(usize, Partitioning)>) -> StreamNode {
        StreamNode {
            operator,
            parallelism,
            inputs: input.map(|(source, partitioning)| StreamEdge { source, partitioning }).into_iter().collect(),
            chaining_disabled: false,
        }
    }

    fn word_count(p: u32) -> StreamGraph {
        StreamGraph {
            name: "WordCount".into(),
            job_type: JobType::Streaming,
            restart_strategy: RestartStrategy::NoRestart,
            nodes: vec![
                node(OperatorSpec::Source { source: SourceSpec::Words { repeat: 1 } }, p, None),
                node(OperatorSpec::FlatMap { flat_map: FlatMapFn::Tokenize }, p, Some((0, Partitioning::Default))),
                node(OperatorSpec::Map { map: MapFn::PairWithOne }, p, Some((1, Partitioning::Default))),
                node(OperatorSpec::KeyedAggregate { key: 0, aggregate: Aggregate::Sum { field: 1 } }, p, Some((2, Partitioning::KeyBy(0)))),
                node(OperatorSpec::Sink { sink: SinkSpec::Print }, p, Some((3, Partitioning::Default))),
            ],
        }
    }

    fn ids() -> impl FnMut() -> u128 {
        let mut n = 0;
        move || {
            n += 1;
            n
        }
    }

    #[test]
    fn uids_are_stable_across_ids_and_parallelism_but_follow_the_topology() {
        let a = word_count(2).to_job_graph(JobId(1), &mut ids()).unwrap();
        let mut n = 1000u128;
        let b = word_count(5)
            .to_job_graph(JobId(2), &mut || {
                n += 7;
                n
            })
            .unwrap();
        let ua: Vec<_> = a.vertices.iter().map(|v| v.uid.clone()).collect();
        let ub: Vec<_> = b.vertices.iter().map(|v| v.uid.clone()).collect();
        assert_eq!(ua, ub);
        assert!(ua.iter().all(|u| u.len() == 32));
        let distinct: std::collections::BTreeSet<_> = ua.iter().collect();
        assert_eq!(distinct.len(), ua.len());
        // A different chain at the same position gets a different uid.
        let mut other = word_count(2);
        other.nodes.last_mut().unwrap().operator = OperatorSpec::Sink { sink: crate::operator::SinkSpec::Discard };
        let c = other.to_job_graph(JobId(3), &mut ids()).unwrap();
        assert_ne!(c.vertices.last().unwrap().uid, *ua.last().unwrap());
        assert_eq!(c.vertices[0].uid, ua[0]);
    }

    #[test]
    fn word_count_chains_like_flink() {
        let g = word_count(2).to_job_graph(JobId(9), &mut ids()).unwrap();
        let names: Vec<&str> = g.vertices.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["Source: Words -> Flat Map -> Map", "Keyed Aggregation -> Sink: Print to Std. Out"]);
        assert_eq!(g.vertices[1].inputs, vec![JobEdge { source: g.vertices[0].id, ship: ShipStrategy::Hash { key: 0 } }]);
        assert_eq!(g.vertices[0].max_parallelism, 128);
        assert_eq!(g.vertices[0].slot_sharing_group, "default");
    }

    #[test]
    fn parallelism_change_and_disabled_chaining_break_chains() {
        let mut sg = word_count(2);
        sg.nodes[4].parallelism = 1;
        sg.nodes[1].chaining_disabled = true;
        let g = sg.to_job_graph(JobId(1), &mut ids()).unwrap();
        let names: Vec<&str> = g.vertices.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["Source: Words", "Flat Map", "Map", "Keyed Aggregation", "Sink: Print to Std. Out"]);
        assert_eq!(g.vertices[4].inputs[0].ship, ShipStrategy::Rebalance);
        assert_eq!(g.vertices[1].inputs[0].ship, ShipStrategy::Forward);
        assert_eq!(default_max_parallelism(200), 512);
    }

    #[test]
    fn a_job_graph_with_a_duplicate_vertex_id_is_refused() {
        let mut g = word_count(2).to_job_graph(JobId(1), &mut ids()).unwrap();
        assert!(g.validate().is_ok());
        g.vertices[1].id = g.vertices[0].id;
        let e = g.validate().unwrap_err();
        assert!(e.starts_with("The JobGraph already contains a vertex with that id."), "{e}");
    }

    proptest! {
        #[test]
        fn chaining_is_consistent(
            spec in proptest::collection::vec((1u32..4, 0u8..3, any::<bool>()), 0..10),
            source_p in 1u32..4,
        ) {
            let mut nodes = vec![node(OperatorSpec::Source { source: SourceSpec::Sequence { from: 0, to: 9 } }, source_p, None)];
            for (i, (p, part, disabled)) in spec.iter().enumerate() {
                let partitioning = match part { 0 => Partitioning::Default, 1 => Partitioning::KeyBy(0), _ => Partitioning::Rebalance };
                let mut n = node(OperatorSpec::Map { map: MapFn::Lowercase }, *p, Some((i, partitioning)));
                n.chaining_disabled = *disabled;
                nodes.push(n);
            }
            let sg = StreamGraph { name: "p".into(), job_type: JobType::Streaming, restart_strategy: RestartStrategy::NoRestart, nodes };
            let g = sg.to_job_graph(JobId(1), &mut ids()).unwrap();
            prop_assert!(g.validate().is_ok());
            // Every operator in exactly one vertex, in order.
            let total: usize = g.vertices.iter().map(|v| v.operators.len()).sum();
            prop_assert_eq!(total, sg.nodes.len());
            // Walk the chains back to nodes: a new vertex starts exactly where chaining is refused.
            let mut node_idx = 0;
            for (vi, v) in g.vertices.iter().enumerate() {
                for k in 0..v.operators.len() {
                    prop_assert_eq!(sg.chains_with_input(node_idx), k > 0);
                    prop_assert_eq!(sg.nodes[node_idx].parallelism, v.parallelism);
                    if k > 0 {
                        let e = &sg.nodes[node_idx].inputs[0];
                        prop_assert_eq!(e.partitioning, Partitioning::Default);
                        prop_assert_eq!(sg.nodes[e.source].parallelism, v.parallelism);
                    }
                    node_idx += 1;
                }
                for e in &v.inputs {
                    let src = g.vertices.iter().position(|u| u.id == e.source).unwrap();
                    prop_assert!(src < vi);
                }
                prop_assert_eq!(v.name.split(" -> ").count(), v.operators.len());
            }
        }
    }
}
