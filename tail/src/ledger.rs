//! The acknowledgement ledger of one file's content: which byte ranges were handed to the
//! producer and how many of their records are still unacknowledged. The checkpoint offset
//! is the end of the longest run of ranges, from the start, whose records were all
//! acknowledged, so it never passes a line whose record is not written, even when later
//! records are acknowledged first (the Agent's checkpoint can skip such a range).

use std::collections::VecDeque;

/// A range's place in the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

#[derive(Clone, Copy, Debug)]
struct Entry {
    end: u64,
    outstanding: u32,
}

/// The ranges of one content, in file order.
#[derive(Debug)]
pub(crate) struct Ledger {
    committed: u64,
    /// The ticket number of `entries[0]`.
    base: u64,
    entries: VecDeque<Entry>,
}

impl Ledger {
    /// A ledger whose content is acknowledged up to `committed`.
    pub(crate) fn new(committed: u64) -> Ledger {
        Ledger {
            committed,
            base: 0,
            entries: VecDeque::new(),
        }
    }

    /// The range from the previous range's end to `end`, with `records` records in flight
    /// (0: nothing to wait for, e.g. skipped lines).
    pub(crate) fn push(&mut self, end: u64, records: u32) -> Ticket {
        let ticket = Ticket(self.base + self.entries.len() as u64);
        self.entries.push_back(Entry {
            end,
            outstanding: records,
        });
        self.advance();
        ticket
    }

    /// `n` records of the range were acknowledged (or given up on, for good).
    pub(crate) fn done(&mut self, ticket: Ticket, n: u32) {
        if let Some(e) = self.entry(ticket) {
            e.outstanding = e.outstanding.saturating_sub(n);
        }
        self.advance();
    }

    /// Everything before this offset is acknowledged.
    pub(crate) fn committed(&self) -> u64 {
        self.committed
    }

    /// Whether every range handed out is acknowledged.
    pub(crate) fn is_settled(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry(&mut self, ticket: Ticket) -> Option<&mut Entry> {
        let index = usize::try_from(ticket.0.checked_sub(self.base)?).ok()?;
        self.entries.get_mut(index)
    }

    fn advance(&mut self) {
        while let Some(front) = self.entries.front().filter(|e| e.outstanding == 0) {
            self.committed = self.committed.max(front.end);
            self.entries.pop_front();
            self.base += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn later_acks_do_not_move_the_checkpoint_past_an_unacknowledged_range() {
        let mut ledger = Ledger::new(100);
        let a = ledger.push(110, 1);
        let b = ledger.push(120, 2);
        let skipped = ledger.push(130, 0);
        ledger.done(b, 2);
        assert_eq!(ledger.committed(), 100, "b is acknowledged, a is not");
        ledger.done(skipped, 0);
        ledger.done(a, 1);
        assert_eq!(ledger.committed(), 130);
        assert!(ledger.is_settled());
        let c = ledger.push(140, 2);
        ledger.done(c, 1);
        assert_eq!(
            ledger.committed(),
            130,
            "one record (being retried) is still out"
        );
        ledger.done(c, 1);
        assert_eq!(ledger.committed(), 140);
        ledger.done(Ticket(99), 1); // unknown: ignored
        ledger.done(a, 1); // settled long ago: ignored
        assert_eq!(ledger.committed(), 140);
    }

    proptest! {
        /// Model: the checkpoint is the end of the longest prefix of fully acknowledged
        /// ranges, whatever the order of the acknowledgements.
        #[test]
        fn the_checkpoint_is_the_acknowledged_prefix(
            sizes in prop::collection::vec((1u64..50, 0u32..4), 1..40),
            order in prop::collection::vec(any::<prop::sample::Index>(), 0..200),
        ) {
            let mut ledger = Ledger::new(0);
            let mut ends = Vec::new();
            let mut left: Vec<u32> = Vec::new();
            let mut end = 0;
            for (size, records) in &sizes {
                end += size;
                ends.push(end);
                left.push(*records);
                ledger.push(end, *records);
            }
            for pick in order {
                let i = pick.index(left.len());
                if left[i] > 0 {
                    left[i] -= 1;
                    ledger.done(Ticket(i as u64), 1);
                }
                let prefix = left.iter().take_while(|n| **n == 0).count();
                let expected = if prefix == 0 { 0 } else { ends[prefix - 1] };
                prop_assert_eq!(ledger.committed(), expected);
            }
        }
    }
}
