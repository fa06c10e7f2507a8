//! Command line and environment (docs/contracts.md section 1).

use std::time::Duration;

/// The behaviours this binary can run; `correct` is the design as intended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Correct,
    VariantA,
    VariantB,
    VariantC,
    VariantD,
}

impl Variant {
    pub const NAMES: [&'static str; 5] = ["correct", "variant_a", "variant_b", "variant_c", "variant_d"];

    pub fn parse(name: &str) -> Option<Variant> {
        Some(match name {
            "correct" => Variant::Correct,
            "variant_a" => Variant::VariantA,
            "variant_b" => Variant::VariantB,
            "variant_c" => Variant::VariantC,
            "variant_d" => Variant::VariantD,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Variant::Correct => "correct",
            Variant::VariantA => "variant_a",
            Variant::VariantB => "variant_b",
            Variant::VariantC => "variant_c",
            Variant::VariantD => "variant_d",
        }
    }
}

/// Time limits. Every call to a store or to the partner has a deadline, so a
/// blackholed link becomes an error instead of a request that hangs.
pub struct Limits {
    /// How long a client waits for the answer to `POST /orders`.
    pub answer_deadline: Duration,
    /// How long one order's database work may take before its connection is
    /// dropped (the work runs on even if the client has gone).
    pub order_deadline: Duration,
    /// Deadline of a read (`GET`) or of the setup `PUT`.
    pub read_deadline: Duration,
    /// Waiting for, and opening, a pooled database connection.
    pub pool_wait: Duration,
    /// One warehouse call.
    pub partner_timeout: Duration,
    /// How long a relay's claim on an outbox row lasts.
    pub lease: Duration,
    /// Relay polling interval when nothing wakes it.
    pub relay_poll: Duration,
}

pub const LIMITS: Limits = Limits {
    answer_deadline: Duration::from_millis(2500),
    order_deadline: Duration::from_secs(6),
    read_deadline: Duration::from_secs(3),
    pool_wait: Duration::from_secs(2),
    partner_timeout: Duration::from_secs(4),
    lease: Duration::from_secs(5),
    relay_poll: Duration::from_millis(200),
};

pub struct Config {
    pub port: u16,
    pub instance: String,
    pub database_url: String,
    pub partner_url: String,
    pub variant: Variant,
}

pub fn usage() -> String {
    format!(
        "usage: rust-checkout serve [--variant NAME]\n\
         variants: {} (default: $FAILMODEL_VARIANT, else correct)\n\
         environment: PORT, DATABASE_URL, PARTNER_URL, INSTANCE_ID (docs/contracts.md section 1)",
        Variant::NAMES.join(", ")
    )
}

/// Parses `serve [--variant NAME]` and the environment; an error is a
/// one-line message (the caller exits with code 2).
pub fn from_args(args: &[String]) -> Result<Config, String> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("serve") => {}
        Some(other) => return Err(format!("unknown command {other:?}\n{}", usage())),
        None => return Err(usage()),
    }
    let mut variant_name: Option<String> = None;
    while let Some(arg) = it.next() {
        if arg == "--variant" {
            variant_name = Some(it.next().ok_or("--variant needs a name")?.clone());
        } else if let Some(v) = arg.strip_prefix("--variant=") {
            variant_name = Some(v.to_string());
        } else {
            return Err(format!("unknown argument {arg:?}\n{}", usage()));
        }
    }
    let variant_name = variant_name
        .or_else(|| std::env::var("FAILMODEL_VARIANT").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "correct".to_string());
    let variant = Variant::parse(&variant_name).ok_or_else(|| {
        format!("unknown variant {variant_name:?}; known: {}", Variant::NAMES.join(", "))
    })?;

    let need = |name: &str| -> Result<String, String> {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{name} is not set (the design must list the dependency that provides it)"))
    };
    let port: u16 = need("PORT")?.parse().map_err(|_| "PORT is not a port number".to_string())?;
    Ok(Config {
        port,
        instance: std::env::var("INSTANCE_ID").unwrap_or_else(|_| "0".into()),
        database_url: need("DATABASE_URL")?,
        partner_url: need("PARTNER_URL")?.trim_end_matches('/').to_string(),
        variant,
    })
}
