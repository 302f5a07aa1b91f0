//! kiln's build solver: plan a Dockerfile into a DAG of steps, compute cache
//! keys, schedule and execute them, and produce outputs. Also owns the build
//! context (walking, ignore filtering, hashing, the stat cache).

pub mod context;
