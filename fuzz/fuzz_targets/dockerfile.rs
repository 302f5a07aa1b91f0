//! Any bytes: the Dockerfile parser returns a tree or an error, never
//! panics, in the raw parse, the dump and the typed AST.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = kiln_parser::parse_raw(data) {
        let _ = raw.dump();
        if let Err(e) = raw.typed() {
            let _ = e.render("Dockerfile");
        }
    }
});
