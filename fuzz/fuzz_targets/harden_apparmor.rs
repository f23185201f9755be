#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The AppArmor profile-mode and loaded-profile readers never panic.
    let _ = palisade_harden::parse::apparmor::profile_modes(s);
    let _ = palisade_harden::parse::apparmor::parse_loaded(s);
});
