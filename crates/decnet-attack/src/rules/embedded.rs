//! The rule files compiled into the binary (the defaults).

/// `(file name, text)` of every file in `crates/decnet-attack/rules/`.
pub(super) const FILES: &[(&str, &str)] = &[
    (
        "credential_access.toml",
        include_str!("../../rules/credential_access.toml"),
    ),
    ("databases.toml", include_str!("../../rules/databases.toml")),
    ("discovery.toml", include_str!("../../rules/discovery.toml")),
    (
        "evasion_and_impact.toml",
        include_str!("../../rules/evasion_and_impact.toml"),
    ),
    ("execution.toml", include_str!("../../rules/execution.toml")),
    ("ics.toml", include_str!("../../rules/ics.toml")),
    (
        "ingress_and_persistence.toml",
        include_str!("../../rules/ingress_and_persistence.toml"),
    ),
    (
        "remote_services.toml",
        include_str!("../../rules/remote_services.toml"),
    ),
    ("scanning.toml", include_str!("../../rules/scanning.toml")),
    (
        "web_exploitation.toml",
        include_str!("../../rules/web_exploitation.toml"),
    ),
];
