#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    // The audit rules parser and coverage checks never panic.
    let rules = palisade_harden::parse::audit::parse(s);
    let _ = palisade_harden::parse::audit::covers_watch(&rules, "/etc/sudoers", "wa");
    let _ =
        palisade_harden::parse::audit::missing_syscalls(&rules, "b64", &["adjtimex".to_string()]);
});
