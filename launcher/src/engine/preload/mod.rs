//! The preload engine: the shim `run` and `enable` put in `LD_PRELOAD`
//! (`shim`: which library, found where) and the environment that carries it
//! and its settings to the program (`environment`).

pub mod environment;
pub mod shim;
