//! kiln's executor: runs one isolated process from plain paths.

pub mod helper;
