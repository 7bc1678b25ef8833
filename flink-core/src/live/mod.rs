//! Driver-side adapters for the live driver (feature `live`): they own sockets, tasks and the
//! wall clock, so they stay out of the model and node code above, which the simulator runs.

pub mod zk_gateway;
