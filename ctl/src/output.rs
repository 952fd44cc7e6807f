//! Printing results: a table for people, JSON or YAML for scripts.

use anyhow::Result;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use serde::Serialize;

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

/// Warnings go to standard error so scripts reading stdout are not confused.
pub fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}
