//! Any bytes as the body of `POST /containers/create`: decoding, turning
//! it into create options and checking them end in options or an error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<kiln_engine::container::CreateBody>(data) {
        if let Ok(opts) = body.into_options(Some("fuzz".into())) {
            let _ = opts.check();
        }
    }
});
