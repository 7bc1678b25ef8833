//! The JSON execution plan Flink's `/jobs/{id}/plan` and `flink info` show (JsonPlanGenerator).

use serde_json::{json, Value};

use crate::graph::{JobGraph, JobType};

/// `{"jid","name","type","nodes":[{"id","parallelism","operator","operator_strategy",
/// "description","inputs":[{"num","id","ship_strategy","exchange"}],"optimizer_properties"}]}`.
pub fn plan_json(graph: &JobGraph) -> Value {
    let nodes: Vec<Value> = graph
        .vertices
        .iter()
        .map(|v| {
            let mut node = json!({
                "id": v.id.to_string(),
                "parallelism": v.parallelism,
                "operator": "",
                "operator_strategy": "",
                "description": v.name,
            });
            // Flink omits "inputs" for sources.
            if !v.inputs.is_empty() {
                let inputs: Vec<Value> = v
                    .inputs
                    .iter()
                    .enumerate()
                    .map(|(num, e)| {
                        json!({
                            "num": num,
                            "id": e.source.to_string(),
                            "ship_strategy": e.ship.name(),
                            "exchange": "pipelined_bounded",
                        })
                    })
                    .collect();
                node["inputs"] = Value::Array(inputs);
            }
            node["optimizer_properties"] = json!({});
            node
        })
        .collect();
    json!({
        "jid": graph.job_id.to_string(),
        "name": graph.name,
        "type": match graph.job_type { JobType::Streaming => "STREAMING", JobType::Batch => "BATCH" },
        "nodes": nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{JobEdge, JobVertex, RestartStrategy, ShipStrategy};
    use crate::ids::{JobId, JobVertexId};
    use crate::operator::{OperatorSpec, SinkSpec, SourceSpec};

    #[test]
    fn plan_has_flinks_shape() {
        let v = |id, op: OperatorSpec, inputs| JobVertex {
            id: JobVertexId(id),
            name: op.name(),
            parallelism: 2,
            max_parallelism: 128,
            operators: vec![op],
            inputs,
            slot_sharing_group: "default".into(),
            uid: String::new(),
        };
        let g = JobGraph {
            job_id: JobId(1),
            name: "j".into(),
            job_type: JobType::Batch,
            restart_strategy: RestartStrategy::NoRestart,
            failover_strategy: Default::default(),
            checkpointing: None,
            savepoint_restore: None,
            buffer_timeout_ms: None,
            vertices: vec![
                v(2, OperatorSpec::Source { source: SourceSpec::Words { repeat: 1 } }, vec![]),
                v(
                    3,
                    OperatorSpec::Sink { sink: SinkSpec::Print },
                    vec![JobEdge { source: JobVertexId(2), ship: ShipStrategy::Hash { key: 0 } }],
                ),
            ],
        };
        let p = plan_json(&g);
        assert_eq!(p["type"], "BATCH");
        assert_eq!(p["jid"], "00000000000000000000000000000001");
        assert!(p["nodes"][0].get("inputs").is_none());
        assert_eq!(p["nodes"][1]["description"], "Sink: Print to Std. Out");
        assert_eq!(
            p["nodes"][1]["inputs"][0],
            json!({"num": 0, "id": "00000000000000000000000000000002", "ship_strategy": "HASH", "exchange": "pipelined_bounded"})
        );
        assert_eq!(p["nodes"][1]["optimizer_properties"], json!({}));
    }
}
