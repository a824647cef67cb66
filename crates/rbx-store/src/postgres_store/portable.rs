//! Runs read out of, and written into, a PostgreSQL store whole. An
//! imported journal goes through the same trigger as every append: each
//! event must be the next link of its chain, with the hash the database
//! computes, or the whole import is rolled back.

use std::path::PathBuf;

use postgres::IsolationLevel;

use super::{PostgresStore, count, unknown};
use crate::chain::HeaderRow;
use crate::portable::{KeptFile, KeptOutput, Portable, RunRecord};
use crate::{RunId, Store, StoreError};

impl Portable for PostgresStore {
    fn export(&self, run: &RunId) -> Result<RunRecord, StoreError> {
        let fail = self.fail();
        let mut client = self.client()?;
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(&fail)?;
        let id = run.as_str();
        let row = tx
            .query_opt(
                "SELECT runbook_id, title, entry, source_hash, inputs, started_at, started_by,
                        host, head_seq, head_hash, status, next_due
                 FROM runs WHERE id = $1",
                &[&id],
            )
            .map_err(&fail)?
            .ok_or_else(|| unknown(run))?;
        let header = HeaderRow {
            runbook_id: row.get(0),
            title: row.get(1),
            entry: row.get(2),
            source_hash: row.get(3),
            inputs: row.get(4),
            started_at: row.get(5),
            started_by: row.get(6),
            host: row.get(7),
            head_seq: count(&self.target, row.get(8), "the run's event count")?,
            head_hash: row.get(9),
        };
        let sources = tx
            .query(
                "SELECT path, text FROM sources WHERE run_id = $1 ORDER BY position",
                &[&id],
            )
            .map_err(&fail)?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let events = self.event_rows(&mut tx, run, 0)?;
        let outputs = tx
            .query(
                "SELECT node, attempt, stream, head, tail, total FROM outputs WHERE run_id = $1
                 ORDER BY node, attempt, stream",
                &[&id],
            )
            .map_err(&fail)?
            .iter()
            .map(|row| KeptOutput {
                node: row.get(0),
                attempt: row.get(1),
                stream: row.get(2),
                head: row.get(3),
                tail: row.get(4),
                total: row.get(5),
            })
            .collect();
        let attachments = tx
            .query(
                "SELECT node, name, file, sha256, bytes FROM attachments WHERE run_id = $1
                 ORDER BY node, name",
                &[&id],
            )
            .map_err(&fail)?
            .iter()
            .map(|row| KeptFile {
                node: row.get(0),
                name: row.get(1),
                file: row.get(2),
                sha256: row.get(3),
                bytes: row.get(4),
            })
            .collect();
        Ok(RunRecord {
            id: run.clone(),
            status: row.get(10),
            next_due: row.get(11),
            header,
            sources,
            events,
            outputs,
            attachments,
        })
    }

    fn import(&mut self, record: &RunRecord) -> Result<bool, StoreError> {
        let fail = self.fail();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&fail)?;
        let header = &record.header;
        let id = record.id.as_str();
        // The run starts with an empty journal, as a new one does; the
        // trigger then moves its head event by event.
        let inserted = tx
            .execute(
                "INSERT INTO runs (id, runbook_id, title, entry, source_hash, inputs, started_at,
                                   started_by, host, status, next_due, head_seq, head_hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12)
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &id,
                    &header.runbook_id,
                    &header.title,
                    &header.entry,
                    &header.source_hash,
                    &header.inputs,
                    &header.started_at,
                    &header.started_by,
                    &header.host,
                    &record.status,
                    &record.next_due,
                    &record.start_hash(),
                ],
            )
            .map_err(&fail)?;
        if inserted == 0 {
            return Ok(false);
        }
        for (position, (path, text)) in (0_i64..).zip(&record.sources) {
            tx.execute(
                "INSERT INTO sources (run_id, position, path, text) VALUES ($1, $2, $3, $4)",
                &[&id, &position, path, text],
            )
            .map_err(&fail)?;
        }
        let insert = tx
            .prepare(
                "INSERT INTO events (run_id, seq, time, kind, payload, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .map_err(&fail)?;
        for event in &record.events {
            let seq = i64::try_from(event.seq).unwrap_or(i64::MAX);
            tx.execute(
                &insert,
                &[
                    &id,
                    &seq,
                    &event.time,
                    &event.kind,
                    &event.payload,
                    &event.prev_hash,
                    &event.hash,
                ],
            )
            .map_err(&fail)?;
        }
        for output in &record.outputs {
            tx.execute(
                "INSERT INTO outputs (run_id, node, attempt, stream, head, tail, total)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &id,
                    &output.node,
                    &output.attempt,
                    &output.stream,
                    &output.head,
                    &output.tail,
                    &output.total,
                ],
            )
            .map_err(&fail)?;
        }
        for file in &record.attachments {
            tx.execute(
                "INSERT INTO attachments (run_id, node, name, file, sha256, bytes)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &id,
                    &file.node,
                    &file.name,
                    &file.file,
                    &file.sha256,
                    &file.bytes,
                ],
            )
            .map_err(&fail)?;
        }
        let head: String = tx
            .query_one("SELECT head_hash FROM runs WHERE id = $1", &[&id])
            .map_err(&fail)?
            .get(0);
        if head != header.head_hash {
            return Err(StoreError::Database {
                path: PathBuf::from(&self.target.shown),
                detail: format!(
                    "the copy of run {id} does not end at the head its source recorded; \
                     nothing was copied"
                ),
            });
        }
        tx.commit().map_err(&fail)?;
        Ok(true)
    }

    fn as_store(&self) -> &dyn Store {
        self
    }
}
