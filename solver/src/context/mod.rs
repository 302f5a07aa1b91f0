//! placeholder: the build context
