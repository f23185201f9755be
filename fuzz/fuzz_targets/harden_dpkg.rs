#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The dpkg status and APT Packages parsers and version ordering never panic.
    let p = palisade_harden::parse::dpkg::parse_status(s);
    let list = palisade_harden::parse::dpkg::parse_packages_list(s);
    for (a, b) in p.installed.values().zip(list.values()) {
        let _ = palisade_harden::parse::dpkg::compare_versions(a, b);
    }
});
