#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The configuration file parser and validator never panic.
    let dir = std::env::temp_dir().join(format!("palisade-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("config.toml");
    if std::fs::write(&path, data).is_ok()
        && let Ok(layer) = palisade_server::ConfigLayer::from_toml_file(&path)
    {
        let _ = palisade_server::ServeConfig::from_layer(layer);
    }
});
