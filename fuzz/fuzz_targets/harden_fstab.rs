#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The fstab / mounts parser and the .mount unit Options= reader never panic.
    let _ = palisade_harden::parse::fstab::parse(s);
    let _ = palisade_harden::parse::fstab::unit_options(s);
});
