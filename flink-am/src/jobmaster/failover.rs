//! Pipelined regions (Flink's `SchedulingPipelinedRegion`, computed as
//! `PipelinedRegionComputeUtil` does): the subtasks connected by pipelined exchanges. Every edge
//! here is pipelined, so a region is a connected component of the subtask graph: a FORWARD edge
//! links subtask i to subtask i, an all-to-all edge (HASH, REBALANCE) links every producer
//! subtask to every consumer subtask. The region failover strategy restarts the failed task's
//! region; consumers and producers of a region are inside it by construction.

use std::collections::BTreeSet;

use flink_core::{JobGraph, ShipStrategy};

/// Regions as sets of (vertex index, subtask index), ordered by their smallest member.
pub fn pipelined_regions(graph: &JobGraph) -> Vec<BTreeSet<(usize, usize)>> {
    // Union-find over subtasks numbered vertex by vertex.
    let offsets: Vec<usize> = graph
        .vertices
        .iter()
        .scan(0usize, |acc, v| {
            let o = *acc;
            *acc += v.parallelism as usize;
            Some(o)
        })
        .collect();
    let total: usize = graph.vertices.iter().map(|v| v.parallelism as usize).sum();
    let mut parent: Vec<usize> = (0..total).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let union = |p: &mut Vec<usize>, a: usize, b: usize| {
        let (ra, rb) = (find(p, a), find(p, b));
        if ra != rb {
            p[ra.max(rb)] = ra.min(rb);
        }
    };
    for (vi, v) in graph.vertices.iter().enumerate() {
        for e in &v.inputs {
            let Some(si) = graph.vertices.iter().position(|x| x.id == e.source) else { continue };
            let src_p = graph.vertices[si].parallelism as usize;
            match e.ship {
                ShipStrategy::Forward => {
                    for i in 0..(v.parallelism as usize).min(src_p) {
                        union(&mut parent, offsets[si] + i, offsets[vi] + i);
                    }
                }
                ShipStrategy::Hash { .. } | ShipStrategy::Rebalance => {
                    for i in 0..src_p {
                        for j in 0..v.parallelism as usize {
                            union(&mut parent, offsets[si] + i, offsets[vi] + j);
                        }
                    }
                }
            }
        }
    }
    let mut regions: std::collections::BTreeMap<usize, BTreeSet<(usize, usize)>> = Default::default();
    for (vi, v) in graph.vertices.iter().enumerate() {
        for i in 0..v.parallelism as usize {
            let r = find(&mut parent, offsets[vi] + i);
            regions.entry(r).or_default().insert((vi, i));
        }
    }
    regions.into_values().collect()
}

#[cfg(test)]
mod tests {
    use flink_core::graph::{JobEdge, JobType, JobVertex};
    use flink_core::operator::{SinkSpec, SourceSpec};
    use flink_core::{JobId, JobVertexId, OperatorSpec, RestartStrategy};

    use super::*;

    fn graph(p: u32, ship: ShipStrategy) -> JobGraph {
        let v = |id: u128, op: OperatorSpec, inputs: Vec<JobEdge>| JobVertex {
            id: JobVertexId(id),
            name: op.name(),
            parallelism: p,
            max_parallelism: 128,
            operators: vec![op],
            inputs,
            slot_sharing_group: "default".into(),
            uid: String::new(),
        };
        JobGraph {
            job_id: JobId(1),
            name: "g".into(),
            job_type: JobType::Streaming,
            vertices: vec![
                v(1, OperatorSpec::Source { source: SourceSpec::Sequence { from: 1, to: 10 } }, vec![]),
                v(2, OperatorSpec::Sink { sink: SinkSpec::Discard }, vec![JobEdge { source: JobVertexId(1), ship }]),
            ],
            restart_strategy: RestartStrategy::NoRestart,
            failover_strategy: Default::default(),
            checkpointing: None,
            savepoint_restore: None,
            buffer_timeout_ms: flink_core::graph::default_buffer_timeout_ms(),
        }
    }

    #[test]
    fn forward_edges_make_one_region_per_subtask_index() {
        let r = pipelined_regions(&graph(3, ShipStrategy::Forward));
        assert_eq!(r.len(), 3);
        assert_eq!(r[1], [(0, 1), (1, 1)].into_iter().collect());
    }

    #[test]
    fn a_forward_pipeline_into_a_shuffle_is_one_region() {
        let mut g = graph(2, ShipStrategy::Forward);
        let mut third = g.vertices[1].clone();
        third.id = JobVertexId(3);
        third.inputs = vec![JobEdge { source: JobVertexId(2), ship: ShipStrategy::Hash { key: 0 } }];
        g.vertices.push(third);
        let r = pipelined_regions(&g);
        assert_eq!(r.len(), 1, "the shuffle joins the two forward pipelines");
        assert_eq!(r[0].len(), 6);
    }

    #[test]
    fn all_to_all_edges_make_one_region() {
        for ship in [ShipStrategy::Rebalance, ShipStrategy::Hash { key: 0 }] {
            let r = pipelined_regions(&graph(3, ship));
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].len(), 6);
        }
    }
}
