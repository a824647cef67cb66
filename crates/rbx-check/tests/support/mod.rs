//! What the tests of whole procedures share: files held in memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rbx_check::{LoadError, Loader};

/// Files held in memory, by path.
pub struct Files(pub HashMap<PathBuf, String>);

impl Loader for Files {
    fn load(&self, path: &Path, _: Option<&Path>) -> Result<Vec<u8>, LoadError> {
        self.0
            .get(path)
            .map(|text| text.clone().into_bytes())
            .ok_or(LoadError::NotFound)
    }
}
