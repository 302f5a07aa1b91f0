//! placeholder: owned by the expand/ignore/lint helper
