//! Transforms: what happens to data between the store and the sinks. `detect`: the anomaly
//! detectors.

pub mod detect;
