//! `file:` URIs, as editors name documents, to paths, as rbx reads files,
//! and back.

use std::path::{Component, Path, PathBuf};
use std::str::FromStr as _;

use lsp_types::Uri;

/// The path a `file:` URI names, or `None` for any other scheme.
pub fn to_path(uri: &Uri) -> Option<PathBuf> {
    if !uri
        .scheme()
        .is_some_and(|s| s.as_str().eq_ignore_ascii_case("file"))
    {
        return None;
    }
    let decoded = uri.path().as_estr().decode().into_string().ok()?;
    Some(normalise(Path::new(decoded.as_ref())))
}

/// The `file:` URI of an absolute path.
pub fn from_path(path: &Path) -> Option<Uri> {
    let text = path.to_str()?;
    let mut out = String::from("file://");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Uri::from_str(&out).ok()
}

/// `a/./b/../c` as `a/c`, so that one file reached by two spellings (an
/// editor's absolute path, an include joined to its file's directory) is
/// one document.
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_spaces_and_non_ascii_round_trip() {
        let path = Path::new("/srv/run books/Überprüfung #1.runbook");
        let uri = from_path(path).expect("an absolute path makes a URI");
        assert_eq!(
            uri.as_str(),
            "file:///srv/run%20books/%C3%9Cberpr%C3%BCfung%20%231.runbook"
        );
        assert_eq!(to_path(&uri).as_deref(), Some(path));
    }

    #[test]
    fn other_schemes_name_no_file() {
        let uri = Uri::from_str("untitled:Untitled-1").expect("a URI");
        assert_eq!(to_path(&uri), None);
    }

    #[test]
    fn dots_are_folded() {
        assert_eq!(normalise(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }
}
