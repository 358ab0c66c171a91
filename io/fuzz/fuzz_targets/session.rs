//! Drives two half-sessions (PLU and SLU) with a script of local flows and
//! PIUs, delivered, changed, dropped or made up: see `appc_io::node::fuzz`
//! for the script and the invariants it checks. The kept corpus
//! (`corpus/session/`) is replayed by that module's unit test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| appc_io::node::fuzz::session(data));
