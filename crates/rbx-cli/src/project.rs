//! The project rbx works in: the `rbx.toml` nearest the current directory,
//! read once for the commands that check runbooks.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rbx_check::project::{Policy, Project};

use crate::{exit, render, sources};

struct Loaded {
    project: Project,
    excluded: Gitignore,
}

static LOADED: OnceLock<Option<Loaded>> = OnceLock::new();

/// Finds and reads the project's `rbx.toml`, if there is one; a file with
/// a mistake is reported at the mistake and stops the command — unless the
/// command only opens the store (`store_only`) and the file still says
/// plainly which store that is: then it goes on with a warning.
pub fn load(store_only: bool) -> Result<(), u8> {
    let start = std::env::current_dir()
        .ok()
        .and_then(|dir| std::path::absolute(dir).ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let project = match rbx_check::project::discover(&start, &sources::FileSystem) {
        Ok(project) => project,
        Err(error) if store_only => return store_alone(&error),
        Err(error) => {
            err!(
                "{}",
                render::diagnostic(
                    &error.diagnostic,
                    &error.path.display().to_string(),
                    &error.text
                )
            );
            return Err(exit::INVALID);
        }
    };
    if let Some(project) = &project {
        fill_inside(project)?;
    }
    let loaded = match project {
        Some(project) => Some(Loaded {
            excluded: excluded_by(&project)?,
            project,
        }),
        None => None,
    };
    let _ = LOADED.set(loaded);
    Ok(())
}

/// A store-only command's project when its `rbx.toml` has a mistake that
/// does not touch `store`.
fn store_alone(error: &rbx_check::project::ConfigError) -> Result<(), u8> {
    let file = error.path.display();
    let Some(store) = rbx_check::project::store_setting(&error.text) else {
        errln!(
            "error: `{file}` cannot be read, so the store it names is unknown: {}\n  \
             help: run `rbx lint` to see the mistake, or name the store with `--store`",
            error.diagnostic.message
        );
        return Err(exit::INVALID);
    };
    errln!("warning: `{file}` has a mistake (`rbx lint` shows it); its `store` setting is used");
    let root = error
        .path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let project = Project {
        root: root.clone(),
        exclude: Vec::new(),
        fill: None,
        store,
        policy: Policy::default(),
        text: error.text.clone(),
    };
    let _ = LOADED.set(Some(Loaded {
        excluded: GitignoreBuilder::new(&root).build().map_err(|e| {
            errln!("error: {e}");
            exit::INVALID
        })?,
        project,
    }));
    Ok(())
}

/// The project's fill file, once symbolic links are followed, is inside the
/// project too, as an include must be.
fn fill_inside(project: &Project) -> Result<(), u8> {
    let Some(fill) = &project.fill else {
        return Ok(());
    };
    let (Ok(real), Ok(root)) = (
        std::fs::canonicalize(fill),
        std::fs::canonicalize(&project.root),
    ) else {
        return Ok(());
    };
    if real.starts_with(&root) {
        return Ok(());
    }
    errln!(
        "error: `{}`: the `fill` file leads outside the project through a symbolic link; \
         keep it inside `{}`, or pass another file with `--fill`",
        project.root.join(rbx_check::project::FILE_NAME).display(),
        project.root.display()
    );
    Err(exit::INVALID)
}

fn excluded_by(project: &Project) -> Result<Gitignore, u8> {
    let mut builder = GitignoreBuilder::new(&project.root);
    for pattern in &project.exclude {
        builder.add_line(None, pattern).map_err(|error| {
            errln!(
                "error: `{}`: the `exclude` pattern `{pattern}` is not a .gitignore pattern: {error}",
                project.root.join(rbx_check::project::FILE_NAME).display()
            );
            exit::INVALID
        })?;
    }
    builder.build().map_err(|error| {
        errln!("error: the project's `exclude` patterns: {error}");
        exit::INVALID
    })
}

fn loaded() -> Option<&'static Loaded> {
    LOADED.get().and_then(Option::as_ref)
}

/// What directory walks leave out, by the project's `exclude`.
pub fn excluded() -> Option<&'static Gitignore> {
    loaded().map(|l| &l.excluded)
}

/// The lint levels the project sets.
pub fn policy() -> Policy {
    loaded()
        .map(|l| l.project.policy.clone())
        .unwrap_or_default()
}

/// The fill file to use: the one given on the command line, else the
/// project's default.
pub fn fill(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(|| loaded().and_then(|l| l.project.fill.clone()))
}

/// The store the project records its runs in, if `rbx.toml` names one.
pub fn store() -> Option<&'static str> {
    loaded().and_then(|l| l.project.store.as_deref())
}

/// The text of the project's `rbx.toml`, which a run keeps in its
/// snapshot.
pub fn text() -> Option<&'static str> {
    loaded().map(|l| l.project.text.as_str())
}
