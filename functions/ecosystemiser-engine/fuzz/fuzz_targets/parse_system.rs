//! Arbitrary bytes into the system-file parser: it must return `Ok` or
//! `Err(Invalid)`, never panic, hang or overflow the stack.

#![no_main]

use ecosystemiser_engine::{parse_system, NoFiles};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_system(&text, &NoFiles);
});
