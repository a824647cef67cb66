//! `rbx lsp`: the language server, on standard input and output.

use crate::cli::LspArgs;
use crate::{exit, sources};

/// Serves one editor until it exits. Files the editor has not opened are
/// read as `rbx lint` reads them.
pub fn run(_args: &LspArgs) -> u8 {
    match rbx_lsp::serve_stdio(sources::FileSystem) {
        Ok(()) => exit::SUCCESS,
        Err(error) => {
            errln!("error: the language server stopped: {error}");
            exit::FAILED
        }
    }
}
