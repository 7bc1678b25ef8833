//! A layered layout of a job graph for the dashboard's SVG, left to right as Flink draws
//! it: each vertex sits one layer right of its furthest input, vertices of a layer are
//! ordered by the mean position of their inputs (fewer crossings), and edges are cubic
//! curves from an output's right side to an input's left side.

use serde::Serialize;

pub const NODE_W: f64 = 270.0;
pub const NODE_H: f64 = 84.0;
const GAP_X: f64 = 90.0;
const GAP_Y: f64 = 30.0;
const MARGIN: f64 = 16.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeBox {
    pub index: usize,
    pub layer: usize,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgePath {
    pub from: usize,
    pub to: usize,
    /// SVG path data.
    pub d: String,
    /// Where the edge's label goes.
    pub label_x: f64,
    pub label_y: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<NodeBox>,
    pub edges: Vec<EdgePath>,
}

/// Lays out `n` vertices with `edges` (from, to) between them. Edges naming vertices that do
/// not exist are left out; a cycle (which a JobGraph cannot have) still ends, in at most `n`
/// rounds of layering.
pub fn layout(n: usize, edges: &[(usize, usize)]) -> Layout {
    let edges: Vec<(usize, usize)> = edges.iter().copied().filter(|(a, b)| *a < n && *b < n && a != b).collect();
    // Longest-path layering.
    let mut layer = vec![0usize; n];
    for _ in 0..n {
        let mut changed = false;
        for (a, b) in &edges {
            if layer[*b] < layer[*a] + 1 && layer[*a] + 1 < n.max(1) {
                layer[*b] = layer[*a] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let layers = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (v, l) in layer.iter().enumerate() {
        order[*l].push(v);
    }
    // Barycenter ordering, layer by layer from the left.
    let mut pos = vec![0.0f64; n];
    for (l, column) in order.iter_mut().enumerate() {
        if l > 0 {
            let mut keyed: Vec<(f64, usize)> = column
                .iter()
                .map(|v| {
                    let ins: Vec<f64> = edges.iter().filter(|(_, b)| b == v).map(|(a, _)| pos[*a]).collect();
                    let key = if ins.is_empty() { *v as f64 } else { ins.iter().sum::<f64>() / ins.len() as f64 };
                    (key, *v)
                })
                .collect();
            keyed.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            *column = keyed.into_iter().map(|(_, v)| v).collect();
        }
        for (i, v) in column.iter().enumerate() {
            pos[*v] = i as f64;
        }
    }
    let tallest = order.iter().map(Vec::len).max().unwrap_or(0);
    let column_h = |k: usize| k as f64 * NODE_H + k.saturating_sub(1) as f64 * GAP_Y;
    let height = column_h(tallest) + 2.0 * MARGIN;
    let width = layers as f64 * NODE_W + layers.saturating_sub(1) as f64 * GAP_X + 2.0 * MARGIN;
    let mut nodes: Vec<NodeBox> = (0..n).map(|i| NodeBox { index: i, layer: layer[i], x: 0.0, y: 0.0, w: NODE_W, h: NODE_H }).collect();
    for (l, vs) in order.iter().enumerate() {
        // Each column is centred vertically.
        let top = MARGIN + (column_h(tallest) - column_h(vs.len())) / 2.0;
        for (i, v) in vs.iter().enumerate() {
            nodes[*v].x = MARGIN + l as f64 * (NODE_W + GAP_X);
            nodes[*v].y = top + i as f64 * (NODE_H + GAP_Y);
        }
    }
    let edges = edges
        .iter()
        .map(|(a, b)| {
            let (x1, y1) = (nodes[*a].x + NODE_W, nodes[*a].y + NODE_H / 2.0);
            let (x2, y2) = (nodes[*b].x, nodes[*b].y + NODE_H / 2.0);
            let mx = (x1 + x2) / 2.0;
            EdgePath {
                from: *a,
                to: *b,
                d: format!("M{x1:.1},{y1:.1} C{mx:.1},{y1:.1} {mx:.1},{y2:.1} {x2:.1},{y2:.1}"),
                label_x: mx,
                label_y: (y1 + y2) / 2.0 - 6.0,
            }
        })
        .collect();
    Layout { width, height, nodes, edges }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlap(a: &NodeBox, b: &NodeBox) -> bool {
        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
    }

    #[test]
    fn a_chain_runs_left_to_right() {
        let l = layout(3, &[(0, 1), (1, 2)]);
        assert!(l.nodes[0].x < l.nodes[1].x && l.nodes[1].x < l.nodes[2].x);
        assert_eq!(l.nodes.iter().map(|n| n.layer).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(l.nodes[0].y, l.nodes[2].y);
        assert_eq!(l.edges.len(), 2);
        assert!(l.edges[0].d.starts_with(&format!("M{:.1},", l.nodes[0].x + NODE_W)));
        assert!(l.width >= l.nodes[2].x + NODE_W);
    }

    #[test]
    fn a_diamond_stacks_its_middle_and_nothing_overlaps() {
        // 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3, and a long edge 0 -> 3.
        let l = layout(4, &[(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)]);
        assert_eq!(l.nodes.iter().map(|n| n.layer).collect::<Vec<_>>(), vec![0, 1, 1, 2]);
        assert_eq!(l.nodes[1].x, l.nodes[2].x);
        assert_ne!(l.nodes[1].y, l.nodes[2].y);
        for a in &l.nodes {
            for b in &l.nodes {
                assert!(a.index == b.index || !overlap(a, b), "{a:?} {b:?}");
            }
            assert!(a.x + a.w <= l.width && a.y + a.h <= l.height);
        }
    }

    #[test]
    fn bad_edges_and_cycles_end() {
        let l = layout(2, &[(0, 5), (1, 1), (0, 1), (1, 0)]);
        assert_eq!(l.nodes.len(), 2);
        assert_eq!(l.edges.len(), 2);
        assert_eq!(layout(0, &[]).nodes.len(), 0);
    }
}
