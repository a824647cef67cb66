//! Runs read out of, and written into, a SQLite store whole.

use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use super::{count, event_rows, on_error, source_rows, unknown};
use crate::chain::HeaderRow;
use crate::portable::{KeptFile, KeptOutput, Portable, RunRecord};
use crate::{RunId, SqliteStore, Store, StoreError};

impl Portable for SqliteStore {
    fn export(&self, run: &RunId) -> Result<RunRecord, StoreError> {
        let path = &self.path;
        let tx = self.conn.unchecked_transaction().map_err(on_error(path))?;
        let row = tx
            .query_row(
                "SELECT runbook_id, title, entry, source_hash, inputs, started_at, started_by,
                        host, head_seq, head_hash, status, next_due
                 FROM runs WHERE id = ?1",
                [run.as_str()],
                |row| {
                    Ok((
                        HeaderRow {
                            runbook_id: row.get(0)?,
                            title: row.get(1)?,
                            entry: row.get(2)?,
                            source_hash: row.get(3)?,
                            inputs: row.get(4)?,
                            started_at: row.get(5)?,
                            started_by: row.get(6)?,
                            host: row.get(7)?,
                            head_seq: 0,
                            head_hash: row.get(9)?,
                        },
                        row.get::<_, i64>(8)?,
                        row.get::<_, String>(10)?,
                        row.get::<_, Option<String>>(11)?,
                    ))
                },
            )
            .optional()
            .map_err(on_error(path))?
            .ok_or_else(|| unknown(run))?;
        let (mut header, head_seq, status, next_due) = row;
        header.head_seq = count(path, head_seq, "the run's event count")?;
        let outputs = tx
            .prepare(
                "SELECT node, attempt, stream, head, tail, total FROM outputs WHERE run_id = ?1
                 ORDER BY node, attempt, stream",
            )
            .and_then(|mut select| {
                select
                    .query_map([run.as_str()], |row| {
                        Ok(KeptOutput {
                            node: row.get(0)?,
                            attempt: row.get(1)?,
                            stream: row.get(2)?,
                            head: row.get(3)?,
                            tail: row.get(4)?,
                            total: row.get(5)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(on_error(path))?;
        let attachments = tx
            .prepare(
                "SELECT node, name, file, sha256, bytes FROM attachments WHERE run_id = ?1
                 ORDER BY node, name",
            )
            .and_then(|mut select| {
                select
                    .query_map([run.as_str()], |row| {
                        Ok(KeptFile {
                            node: row.get(0)?,
                            name: row.get(1)?,
                            file: row.get(2)?,
                            sha256: row.get(3)?,
                            bytes: row.get(4)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(on_error(path))?;
        Ok(RunRecord {
            id: run.clone(),
            sources: source_rows(&tx, path, run)?,
            events: event_rows(&tx, path, run, 0)?,
            header,
            status,
            next_due,
            outputs,
            attachments,
        })
    }

    fn import(&mut self, record: &RunRecord) -> Result<bool, StoreError> {
        let path = &self.path;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(on_error(path))?;
        let there = tx
            .query_row(
                "SELECT 1 FROM runs WHERE id = ?1",
                [record.id.as_str()],
                |_| Ok(()),
            )
            .optional()
            .map_err(on_error(path))?;
        if there.is_some() {
            return Ok(false);
        }
        let header = &record.header;
        let id = record.id.as_str();
        let head_seq = i64::try_from(header.head_seq).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO runs (id, runbook_id, title, entry, source_hash, inputs, started_at,
                               started_by, host, status, next_due, head_seq, head_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                id,
                header.runbook_id,
                header.title,
                header.entry,
                header.source_hash,
                header.inputs,
                header.started_at,
                header.started_by,
                header.host,
                record.status,
                record.next_due,
                head_seq,
                header.head_hash,
            ],
        )
        .map_err(on_error(path))?;
        for (position, (source, text)) in (0_i64..).zip(&record.sources) {
            tx.execute(
                "INSERT INTO sources (run_id, position, path, text) VALUES (?1, ?2, ?3, ?4)",
                params![id, position, source, text],
            )
            .map_err(on_error(path))?;
        }
        for event in &record.events {
            tx.execute(
                "INSERT INTO events (run_id, seq, time, kind, payload, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    i64::try_from(event.seq).unwrap_or(i64::MAX),
                    event.time,
                    event.kind,
                    event.payload,
                    event.prev_hash,
                    event.hash
                ],
            )
            .map_err(on_error(path))?;
        }
        for output in &record.outputs {
            tx.execute(
                "INSERT INTO outputs (run_id, node, attempt, stream, head, tail, total)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    output.node,
                    output.attempt,
                    output.stream,
                    output.head,
                    output.tail,
                    output.total
                ],
            )
            .map_err(on_error(path))?;
        }
        for file in &record.attachments {
            tx.execute(
                "INSERT INTO attachments (run_id, node, name, file, sha256, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, file.node, file.name, file.file, file.sha256, file.bytes],
            )
            .map_err(on_error(path))?;
        }
        tx.commit().map_err(on_error(path))?;
        Ok(true)
    }

    fn as_store(&self) -> &dyn Store {
        self
    }
}
