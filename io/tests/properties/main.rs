//! Property tests of the wire codec (one test binary, so the strategies are
//! shared without duplication):
//!
//! * `roundtrip`: every value the encoders accept decodes back to itself;
//! * `totality`: every decoder, fed any bytes, returns a value or a typed
//!   error whose offset lies inside its input, and never panics;
//! * `chunking`: a stream cut at any position decodes to the same results.

mod chunking;
mod roundtrip;
mod strategies;
mod totality;
