//! Where a store is, as an operator names it, and the one door that opens
//! either backend.

use std::fmt;
use std::path::PathBuf;

use crate::{Portable, PostgresStore, SqliteStore, Store, StoreError};

/// A store's location: a directory holding SQLite's `rbx.db`, or a
/// PostgreSQL database.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded store in this directory.
    Directory(PathBuf),
    /// A PostgreSQL database, by its connection string.
    Postgres(String),
}

impl Location {
    /// Reads a location: `postgres://…` or `postgresql://…` is a database,
    /// anything else a directory.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_owned())
        } else {
            Location::Directory(PathBuf::from(text))
        }
    }

    /// Opens the store here, creating or migrating it as needed.
    pub fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(match self {
            Location::Directory(dir) => Box::new(SqliteStore::open(dir)?),
            Location::Postgres(address) => Box::new(PostgresStore::open(address)?),
        })
    }

    /// Opens the store here as one runs can be copied out of and into.
    pub fn open_portable(&self) -> Result<Box<dyn Portable>, StoreError> {
        Ok(match self {
            Location::Directory(dir) => Box::new(SqliteStore::open(dir)?),
            Location::Postgres(address) => Box::new(PostgresStore::open(address)?),
        })
    }
}

/// The location as it may be shown: a directory's path, or the connection
/// string without its password.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Directory(dir) => write!(f, "{}", dir.display()),
            Location::Postgres(address) => f.write_str(&crate::postgres_store::shown(address)),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Location;

    #[test]
    fn urls_are_databases_and_the_rest_directories() {
        assert!(matches!(
            Location::parse("postgres://bob:pw@db/rbx"),
            Location::Postgres(_)
        ));
        assert!(matches!(
            Location::parse("postgresql://db/rbx"),
            Location::Postgres(_)
        ));
        assert!(matches!(Location::parse(".rbx"), Location::Directory(_)));
        assert_eq!(
            Location::parse("postgres://bob:pw@db/rbx").to_string(),
            "postgres://bob:***@db/rbx"
        );
    }
}
