//! Moving runs between stores: a run's whole record read out of one
//! backend and written verbatim into another, its ids, times and hashes
//! kept, so that the copy verifies by the same chain as the original.

use crate::chain::{EventRow, HeaderRow};
use crate::{RunId, Store, StoreError};

/// Everything a store holds of one run, as it holds it: the header and the
/// events with the very text that was hashed.
#[derive(Debug)]
pub struct RunRecord {
    pub(crate) id: RunId,
    pub(crate) header: HeaderRow,
    pub(crate) status: String,
    pub(crate) next_due: Option<String>,
    pub(crate) sources: Vec<(String, String)>,
    pub(crate) events: Vec<EventRow>,
    pub(crate) outputs: Vec<KeptOutput>,
    pub(crate) attachments: Vec<KeptFile>,
}

impl RunRecord {
    /// The run's id.
    pub fn id(&self) -> &RunId {
        &self.id
    }

    /// How many events its journal has.
    pub fn events(&self) -> usize {
        self.events.len()
    }

    /// The hash the run's journal starts from: the first event's
    /// `prev_hash`, or the head of a journal with no events.
    pub(crate) fn start_hash(&self) -> &str {
        self.events
            .first()
            .map_or(self.header.head_hash.as_str(), |e| e.prev_hash.as_str())
    }
}

/// One kept output stream of one attempt.
#[derive(Debug)]
pub(crate) struct KeptOutput {
    pub(crate) node: String,
    pub(crate) attempt: i64,
    pub(crate) stream: String,
    pub(crate) head: Vec<u8>,
    pub(crate) tail: Vec<u8>,
    pub(crate) total: i64,
}

/// One kept file.
#[derive(Debug)]
pub(crate) struct KeptFile {
    pub(crate) node: String,
    pub(crate) name: String,
    pub(crate) file: String,
    pub(crate) sha256: String,
    pub(crate) bytes: Vec<u8>,
}

/// A store whose runs can be read out whole and written in whole: the
/// durable backends.
pub trait Portable: Store {
    /// The run's whole record.
    fn export(&self, run: &RunId) -> Result<RunRecord, StoreError>;

    /// Writes `record` in one transaction, unless the store already has a
    /// run with its id: then nothing is written and `false` returned.
    fn import(&mut self, record: &RunRecord) -> Result<bool, StoreError>;

    /// The store as a plain [`Store`].
    fn as_store(&self) -> &dyn Store;
}

/// What [`copy_run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    /// The run was copied and verifies at the destination.
    Copied {
        /// How many events its journal has.
        events: usize,
    },
    /// The destination already had a run with this id; it was left alone.
    AlreadyThere,
}

/// Copies `run` from `from` to `to`: verified at the source first (a
/// broken record is not spread), written whole, then verified again at the
/// destination, by the destination's own reading of what it stored.
pub fn copy_run(
    from: &dyn Portable,
    to: &mut dyn Portable,
    run: &RunId,
) -> Result<Copied, StoreError> {
    from.as_store().verify(run)?;
    let record = from.export(run)?;
    if !to.import(&record)? {
        return Ok(Copied::AlreadyThere);
    }
    to.as_store().verify(run)?;
    Ok(Copied::Copied {
        events: record.events(),
    })
}
