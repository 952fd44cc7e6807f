//! Printing results: a table for people, JSON or YAML for scripts.

use anyhow::Result;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::Format;

/// Prints `value` as JSON/YAML, or calls `table` to print it for people.
pub fn emit<T: Serialize>(format: Format, value: &T, table: impl FnOnce(&T)) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Format::Yaml => print!("{}", serde_yaml_ng::to_string(value)?),
        Format::Table => table(value),
    }
    Ok(())
}

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY).set_header(header.to_vec());
    t
}

/// Key/value pairs as a two-column table.
pub fn pairs(rows: &[(&str, String)]) {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v.clone()]);
    }
    println!("{t}");
}

/// Prints a failed command's error on standard error: as text, or for
/// `-o json`/`-o yaml` as `{"error": {"code": …, "message": …}}` so scripts
/// read it as they read results. `code` is the gRPC code of a refusal by
/// the cluster, or `LOCAL` for one by mrctl itself (a file, a flag).
pub fn error(format: Format, e: &anyhow::Error) {
    if format == Format::Table {
        eprintln!("mrctl: {e:#}");
        return;
    }
    let (code, message) = match e.downcast_ref::<crate::endpoints::CallError>() {
        Some(call) => (call.code, call.to_string()),
        None => ("LOCAL", format!("{e:#}")),
    };
    // The message keeps the code prefix people see; strip it here.
    let message = message
        .strip_prefix(&format!("{code}: "))
        .unwrap_or(&message)
        .to_string();
    let value = serde_json::json!({ "error": { "code": code, "message": message } });
    let text = match format {
        Format::Yaml => serde_yaml_ng::to_string(&value).unwrap_or_default(),
        _ => format!("{value}\n"),
    };
    eprint!("{text}");
}

/// Warnings go to standard error so scripts reading stdout are not confused.
pub fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// An API enum value by name (`ecdsa-p256`), or its number if this mrctl
/// does not know it.
pub fn enum_name<E: mrouter_proto::names::Named + TryFrom<i32>>(value: i32) -> String {
    E::try_from(value).map_or_else(|_| value.to_string(), |v| v.name())
}

/// Information that asks nothing of the reader, on standard error too.
pub fn note(notes: &[String]) {
    for n in notes {
        eprintln!("note: {n}");
    }
}

/// Unix seconds as RFC 3339 UTC, e.g. `2025-06-01T12:00:00Z`.
pub fn utc(unix_s: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_s)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("(invalid time {unix_s})"))
}

/// Unix milliseconds as RFC 3339 UTC, to the second.
pub fn utc_ms(unix_ms: u64) -> String {
    utc(i64::try_from(unix_ms / 1000).unwrap_or(i64::MAX))
}

/// The date part of [`utc`].
pub fn utc_date(unix_s: i64) -> String {
    let mut text = utc(unix_s);
    if let Some(t) = text.find('T') {
        text.truncate(t);
    }
    text
}

#[cfg(test)]
mod tests;

/// A spinner on standard error while a slow call runs (key generation takes
/// seconds for large RSA keys); only on a terminal, so scripts see nothing.
pub fn spinner(message: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    Some(bar)
}
