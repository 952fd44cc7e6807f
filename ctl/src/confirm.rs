//! Confirmation of destructive steps: asked on a terminal, `--yes` to skip,
//! refused when there is no terminal to ask on.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};

pub fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} — refusing without --yes (standard input is not a terminal to ask on)");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("cancelled; nothing was changed")
    }
}
