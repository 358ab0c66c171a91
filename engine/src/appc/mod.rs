//! APPC semantics: return codes, verbs, and the LU 6.2 conversation rules.

pub mod rc;
pub mod records;
pub mod states;
pub mod verbs;
