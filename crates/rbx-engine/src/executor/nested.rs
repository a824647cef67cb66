//! A child run's executor: its parent's, each node named by its path from
//! the parent's run — the `child` node's id, `/`, the node's id in the
//! child run (`rollout.regions[us-east]/roll.ready`) — so that what
//! stands in for the world (`rbx test`'s simulation) can tell a child's
//! node from a parent's of the same id. The real executor reads no name.

use std::sync::Arc;

use tokio::sync::watch;

use super::{Call, Executor, Finished, Live, Pending, Unrun};

#[derive(Debug)]
pub struct Nested {
    parent: Arc<dyn Executor>,
    /// The `child` node's id in the parent's run.
    node: String,
}

impl Nested {
    pub fn new(parent: Arc<dyn Executor>, node: &str) -> Nested {
        Nested {
            parent,
            node: node.to_string(),
        }
    }

    fn path(&self, node: &str) -> String {
        format!("{}/{node}", self.node)
    }
}

impl Executor for Nested {
    fn run<'a>(
        &'a self,
        call: Call<'a>,
        live: Live,
        cancel: watch::Receiver<bool>,
    ) -> Pending<'a, Result<Finished, Unrun>> {
        Box::pin(async move {
            let node = self.path(call.node);
            let call = Call {
                node: &node,
                ..call
            };
            self.parent.run(call, live, cancel).await
        })
    }

    fn attend<'a>(&'a self, node: &'a str) -> Pending<'a, ()> {
        Box::pin(async move {
            let node = self.path(node);
            self.parent.attend(&node).await
        })
    }

    fn attachment(&self, path: &str) -> std::io::Result<Vec<u8>> {
        self.parent.attachment(path)
    }

    fn interruption(&self) -> Pending<'_, ()> {
        self.parent.interruption()
    }
}
