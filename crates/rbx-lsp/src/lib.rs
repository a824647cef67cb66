//! The rbx language server: the checks of `rbx lint` as the author types,
//! with navigation, hover, completion, outline, formatting, rename and
//! quick fixes, over the Language Server Protocol.
//!
//! Architecture invariant: the server reads files only through the
//! [`rbx_check::Loader`] its caller passes in (open documents come first),
//! except for listing directories to find the entry runbook that includes
//! a fragment. It never prints: it speaks only on its connection.

mod actions;
mod analysis;
mod complete;
mod diagnostics;
mod documents;
mod format;
mod hover;
mod index;
mod keywords;
mod navigate;
mod outline;
mod position;
mod server;
#[cfg(test)]
mod testing;
mod uri;
mod workspace;

use std::error::Error;

pub use server::{capabilities, serve};
pub use workspace::{Publish, Workspace};

/// Serves one editor over standard input and output until it exits.
pub fn serve_stdio<L: rbx_check::Loader>(disk: L) -> Result<(), Box<dyn Error + Send + Sync>> {
    let (connection, io_threads) = lsp_server::Connection::stdio();
    serve(&connection, disk)?;
    drop(connection);
    io_threads.join()?;
    Ok(())
}
