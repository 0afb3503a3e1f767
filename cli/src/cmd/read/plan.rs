//! Which shards `read` reads, from where, and in what order: a shard starts only once
//! every parent it reads has been read to its end, so the records of a partition key
//! come out in order across splits and merges (as the KCL orders them). A pure state
//! machine; the reading is elsewhere.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::position::StartFrom;
use crate::shards::ShardInfo;

/// Where a shard iterator starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    TrimHorizon,
    Latest,
    AtTimestamp(SystemTime),
    AtSequence(String),
    /// After this sequence number (renewing an expired iterator).
    AfterSequence(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Waiting,
    Reading,
    Done,
}

#[derive(Debug)]
struct Entry {
    info: ShardInfo,
    start: Start,
    state: State,
}

/// The shards to read and how far each has got.
#[derive(Debug)]
pub(crate) struct Plan {
    entries: BTreeMap<String, Entry>,
    /// Whether children of the shards read are read too (not with `--shard`).
    follow_children: bool,
}

impl Plan {
    /// The plan for a stream's shards `all`: with `only`, those shards (an unknown id is
    /// returned as the error); from `latest`, the open shards; otherwise every shard.
    pub(crate) fn new(
        all: Vec<ShardInfo>,
        from: &StartFrom,
        only: &[String],
    ) -> Result<Plan, String> {
        if let Some(missing) = only.iter().find(|id| !all.iter().any(|s| &s.id == *id)) {
            return Err(missing.clone());
        }
        let start = match from {
            StartFrom::TrimHorizon => Start::TrimHorizon,
            StartFrom::Latest => Start::Latest,
            StartFrom::Timestamp(t) => Start::AtTimestamp(*t),
            StartFrom::Sequence(s) => Start::AtSequence(s.clone()),
        };
        let selected = all.into_iter().filter(|s| {
            if !only.is_empty() {
                only.contains(&s.id)
            } else {
                *from != StartFrom::Latest || !s.closed
            }
        });
        let entries = selected
            .map(|info| {
                let entry = Entry {
                    info,
                    start: start.clone(),
                    state: State::Waiting,
                };
                (entry.info.id.clone(), entry)
            })
            .collect();
        Ok(Plan {
            entries,
            follow_children: only.is_empty(),
        })
    }

    /// The shards that can start now (each parent in the plan is done), marked as
    /// being read.
    pub(crate) fn start_ready(&mut self) -> Vec<(ShardInfo, Start)> {
        let ready: Vec<String> = self
            .entries
            .values()
            .filter(|e| e.state == State::Waiting)
            .filter(|e| e.info.parents().all(|p| self.parent_done(p)))
            .map(|e| e.info.id.clone())
            .collect();
        ready
            .into_iter()
            .filter_map(|id| {
                let entry = self.entries.get_mut(&id)?;
                entry.state = State::Reading;
                Some((entry.info.clone(), entry.start.clone()))
            })
            .collect()
    }

    /// A parent outside the plan (expired, or not selected) does not hold a child back.
    fn parent_done(&self, parent: &str) -> bool {
        self.entries
            .get(parent)
            .is_none_or(|e| e.state == State::Done)
    }

    /// `shard` was read to its end.
    pub(crate) fn finished(&mut self, shard: &str) {
        if let Some(e) = self.entries.get_mut(shard) {
            e.state = State::Done;
        }
    }

    /// Whether the plan already holds a child of `shard` (or never follows children),
    /// so that listing the shards again would find nothing to add.
    pub(crate) fn knows_children_of(&self, shard: &str) -> bool {
        !self.follow_children
            || self
                .entries
                .values()
                .any(|e| e.info.parents().any(|p| p == shard))
    }

    /// Adds the children, among `listed`, of shards in the plan (read from their start).
    pub(crate) fn discovered(&mut self, listed: Vec<ShardInfo>) {
        if !self.follow_children {
            return;
        }
        for info in listed {
            let is_child = info.parents().any(|p| self.entries.contains_key(p));
            if is_child && !self.entries.contains_key(&info.id) {
                let entry = Entry {
                    info,
                    start: Start::TrimHorizon,
                    state: State::Waiting,
                };
                self.entries.insert(entry.info.id.clone(), entry);
            }
        }
    }

    /// Whether every shard of the plan was read to its end.
    pub(crate) fn is_done(&self) -> bool {
        self.entries.values().all(|e| e.state == State::Done)
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
