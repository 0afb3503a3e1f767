//! Runs a scenario on the embedded servers and collects what happened.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kcl::Position;
use kcl::agg::{Deaggregated, Deaggregator};
use testkit::{LocalAws, ProxyLog, streams};
use tokio::sync::watch;

use super::facts::{Facts, FinalLease, Incarnation, RecordId, Stored, lease_writes};
use super::processor::DeliveryLog;
use super::producer::{Production, produce};
use super::reshard;
use super::scenario::{Action, Scenario};
use super::workers::{APP, Slot};

/// Longest wait for everything to be delivered once the faults stopped.
const SETTLE: Duration = Duration::from_secs(30);

struct Run<'a> {
    s: &'a Scenario,
    aws: LocalAws,
    stream: String,
    deliveries: DeliveryLog,
    slots: Vec<Slot>,
    incarnations: Vec<Incarnation>,
    journal: Vec<(Instant, String)>,
    t0: Instant,
}

/// How long records are produced after the faults stopped.
const FINAL_ROUND: Duration = Duration::from_millis(1500);

/// Runs `s` and returns the facts for the checkers.
pub async fn run(s: &Scenario) -> Facts {
    let (mut run, log) = Run::set_up(s).await;
    let production = Production::default();
    let (stop, stopped) = watch::channel(false);
    let producer = tokio::spawn(produce(
        run.aws.kinesis_client(),
        run.stream.clone(),
        s.aggregated,
        s.seed,
        production.clone(),
        stopped,
    ));
    run.before_start().await;
    for i in 0..run.slots.len() {
        run.start(i, false).await;
    }
    run.timeline().await;
    run.heal().await;
    production
        .after_faults
        .store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(FINAL_ROUND).await;
    stop.send_replace(true);
    producer.await.unwrap();
    let produced = production.produced.lock().unwrap().clone();
    run.finish(&log, produced).await
}

impl<'a> Run<'a> {
    /// The servers, the stream, a proxy pair per worker slot, the foreign items.
    async fn set_up(s: &'a Scenario) -> (Run<'a>, ProxyLog) {
        let aws = LocalAws::start().await.unwrap();
        let stream = streams::name_for_this_run("schedule");
        streams::create_stream(&aws.kinesis_client(), &stream, s.shards)
            .await
            .unwrap();
        let log = ProxyLog::default();
        let mut slots = Vec::new();
        for (i, policy) in s.workers.iter().enumerate() {
            slots.push(Slot::new(&aws, &log, i, *policy).await);
        }
        if s.foreign_items {
            super::foreign::put(&aws.dynamodb_client(), APP).await;
        }
        let run = Run {
            s,
            aws,
            stream,
            deliveries: DeliveryLog::default(),
            slots,
            incarnations: Vec::new(),
            journal: Vec::new(),
            t0: Instant::now(),
        };
        (run, log)
    }

    /// Waits for everything to be delivered, stops every worker, reads the table and
    /// the stream back.
    async fn finish(mut self, log: &ProxyLog, produced: Vec<super::facts::Produced>) -> Facts {
        let wanted: BTreeSet<RecordId> = produced.iter().map(|p| p.id).collect();
        let (leases_at_end, live) = self.settle(&wanted).await;
        self.stop_all().await;
        let final_leases = read_table(&self.aws.dynamodb_client()).await;
        let stored = read_back(&self.aws.kinesis_client(), &self.stream).await;
        Facts {
            t0: self.t0,
            failover: self.s.failover,
            produced,
            stored,
            deliveries: self.deliveries.deliveries(),
            lifecycle: self.deliveries.lifecycle(),
            writes: lease_writes(&log.events(), &self.incarnations),
            leases_at_end,
            live,
            final_leases,
            journal: self.journal,
            proxy_events: log.events(),
        }
    }
}

impl Run<'_> {
    fn note(&mut self, what: String) {
        self.journal.push((Instant::now(), what));
    }

    async fn start(&mut self, slot: usize, new_id: bool) {
        let (s, stream, deliveries) = (self.s, self.stream.clone(), self.deliveries.clone());
        if let Some(exit) = self.slots[slot].reap().await {
            self.note(exit);
        }
        if let Some(inc) = self.slots[slot]
            .start(s, &stream, &deliveries, new_id)
            .await
        {
            self.note(format!("start {} as {}", inc.proxy, inc.worker));
            self.incarnations.push(inc);
        }
    }

    /// The reshards made before any worker starts, with records produced around them;
    /// the run's clock starts after them.
    async fn before_start(&mut self) {
        for action in &self.s.before_start {
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.act(action).await;
        }
        if !self.s.before_start.is_empty() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        self.t0 = Instant::now();
    }

    /// The fault phase: every action at its time, each fault lifted when it lapses.
    async fn timeline(&mut self) {
        let mut steps: Vec<(Duration, Option<&Action>)> = Vec::new();
        for e in &self.s.events {
            steps.push((e.at, Some(&e.action)));
            if let Action::Fault { lasting, .. } = e.action {
                steps.push((e.at + lasting, None));
            }
        }
        steps.sort_by_key(|(at, _)| *at);
        for (at, action) in steps.into_iter().filter(|(at, _)| *at < self.s.fault_phase) {
            tokio::time::sleep_until((self.t0 + at).into()).await;
            match action {
                Some(action) => self.act(action).await,
                None => self
                    .slots
                    .iter_mut()
                    .for_each(|s| s.apply_rules(Instant::now())),
            }
            // A supervisor starts a worker that exited by itself again.
            for i in 0..self.slots.len() {
                if self.slots[i].exited() {
                    self.start(i, false).await;
                }
            }
        }
        tokio::time::sleep_until((self.t0 + self.s.fault_phase).into()).await;
    }

    async fn act(&mut self, action: &Action) {
        self.note(format!("{action:?}"));
        let now = Instant::now();
        match *action {
            Action::Fault {
                slot,
                service,
                operation,
                percent,
                lasting,
            } => {
                let rule = service.rule(operation, percent);
                let s = &mut self.slots[slot];
                match service {
                    super::scenario::Service::Dynamo(_) => {
                        s.dynamodb_rules.push((now + lasting, rule))
                    }
                    super::scenario::Service::Kinesis(_) => {
                        s.kinesis_rules.push((now + lasting, rule))
                    }
                }
                s.apply_rules(now);
            }
            Action::Split(pick) => {
                reshard::split(&self.aws.kinesis_client(), &self.stream, pick).await
            }
            Action::Merge(pick) => {
                reshard::merge(&self.aws.kinesis_client(), &self.stream, pick).await
            }
            Action::Abort(slot) => self.slots[slot].abort(),
            Action::Graceful(slot) => self.slots[slot].graceful(),
            Action::Restart { slot, new_id } => self.start(slot, new_id).await,
        }
    }

    /// Lifts every fault and starts every stopped worker.
    async fn heal(&mut self) {
        self.slots.iter_mut().for_each(Slot::heal);
        self.note("faults stop".into());
        for i in 0..self.slots.len() {
            self.start(i, false).await;
        }
    }

    /// Waits until every record was delivered and every unfinished lease is held by a
    /// live worker (or `SETTLE` passed); returns the table and the live workers then.
    async fn settle(
        &mut self,
        wanted: &BTreeSet<RecordId>,
    ) -> (Vec<FinalLease>, BTreeMap<String, BTreeSet<String>>) {
        let deadline = Instant::now() + SETTLE;
        let dynamodb = self.aws.dynamodb_client();
        loop {
            let leases = read_table(&dynamodb).await;
            let live: BTreeMap<String, BTreeSet<String>> = self
                .slots
                .iter()
                .filter_map(|s| s.running.as_ref())
                .filter(|r| !r.task.is_finished())
                .map(|r| (r.id.clone(), r.handle.status().held_leases))
                .collect();
            let delivered: BTreeSet<RecordId> = self
                .deliveries
                .deliveries()
                .iter()
                .flat_map(|d| d.records.iter().map(|(_, id)| *id))
                .collect();
            let owned = leases
                .iter()
                .filter(|l| l.checkpoint != Position::ShardEnd)
                .all(|l| {
                    l.owner
                        .as_ref()
                        .is_some_and(|o| live.get(o).is_some_and(|h| h.contains(&l.key)))
                });
            if (owned && wanted.is_subset(&delivered)) || Instant::now() > deadline {
                self.note(format!(
                    "settled: all delivered {}, all owned {owned}",
                    wanted.is_subset(&delivered)
                ));
                return (leases, live);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops every worker abruptly and lets in-flight requests end.
    async fn stop_all(&mut self) {
        for s in &mut self.slots {
            s.abort();
            if let Some(stopping) = s.stopping.take() {
                stopping.abort();
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every lease item, read consistently.
pub async fn read_table(dynamodb: &aws_sdk_dynamodb::Client) -> Vec<FinalLease> {
    let items = dynamodb
        .scan()
        .table_name(APP)
        .consistent_read(true)
        .send()
        .await;
    let items = items
        .map(|o| o.items.unwrap_or_default())
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|item| {
            let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            let sub = item
                .get("checkpointSubSequenceNumber")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let key = s("leaseKey")?;
            if super::foreign::is_foreign(&key) {
                return None;
            }
            Some(FinalLease {
                key,
                owner: s("leaseOwner"),
                checkpoint: Position::from_table(&s("checkpoint")?, sub).ok()?,
            })
        })
        .collect()
}

/// Every user record in the stream, de-aggregated, with its shard and position.
async fn read_back(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Vec<Stored> {
    let records = streams::read_stream(kinesis, stream).await.unwrap();
    let deagg = Deaggregator::new();
    let mut out = Vec::new();
    for (shard, r) in records {
        let seq = r.sequence_number().to_owned();
        let mut push = |sub: u64, data: &[u8]| {
            if let Some(id) = RecordId::parse(data) {
                let position = Position::at(&seq, sub).unwrap();
                out.push(Stored {
                    shard: shard.clone(),
                    position,
                    id,
                });
            }
        };
        match deagg.deaggregate(bytes::Bytes::from(r.data.into_inner())) {
            Deaggregated::Aggregated(a) | Deaggregated::Dropped(a) => {
                a.records()
                    .for_each(|sub| push(sub.sub_sequence_number, &sub.data));
            }
            Deaggregated::NotAggregated(data) => push(0, &data),
        }
    }
    out
}
