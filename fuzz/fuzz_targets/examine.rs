//! libFuzzer entry for [`minichain_fuzz::targets::examine`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| minichain_fuzz::targets::examine(data));
