//! What a `child` node's record keeps of its child run across the resets
//! that run the node again (rule D7): the child run its last start named,
//! and whether a reset since asks for the child to run again.

use serde::{Deserialize, Serialize};

use super::NodeState;

/// The child run a `child` node's last start named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildRun {
    pub id: String,
    /// Set by a reset after that start: how the node is run again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub again: Option<Again>,
}

/// How a node is run again: re-driven because its failure failed the run
/// (S5), or run again by `--from` (or by a clean-up run again with it).
/// `From` asks more: a node reset by both runs its child again whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Again {
    Redrive,
    From,
}

impl NodeState {
    /// The node as a reset leaves it: pending, its attempts and its child
    /// run kept, the child marked to run again.
    pub(crate) fn reset(&mut self, again: Again) {
        let attempts = self.attempts;
        let child = self.child.take();
        *self = NodeState {
            attempts,
            child,
            ..NodeState::default()
        };
        self.mark_again(again);
    }

    /// Marks the node's child run, if it has one, to run again.
    pub(crate) fn mark_again(&mut self, again: Again) {
        if let Some(child) = &mut self.child {
            child.again = Some(child.again.map_or(again, |was| was.max(again)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_keeps_the_child_and_from_outranks_a_redrive() {
        let mut node = NodeState {
            attempts: 2,
            child: Some(ChildRun {
                id: "r/s.c".to_string(),
                again: None,
            }),
            ..NodeState::default()
        };
        node.reset(Again::Redrive);
        assert_eq!(node.attempts, 2);
        let again = |n: &NodeState| n.child.as_ref().and_then(|c| c.again);
        assert_eq!(again(&node), Some(Again::Redrive));
        node.reset(Again::From);
        node.mark_again(Again::Redrive);
        assert_eq!(again(&node), Some(Again::From));
        let mut plain = NodeState::default();
        plain.reset(Again::From);
        assert_eq!(plain.child, None);
    }
}
