//! Kafka as a source. A partition is read like a file whose address space is offsets: a work unit
//! is `kafka://<topic>/<partition>` with the range `[start, end)` of offsets, planned before it is
//! read (and written to the run's state by the engine), so a rerun after a crash reads exactly the
//! same records. Reading uses `assign()` at the planned start, `isolation.level=read_committed` and
//! no automatic commits, and stops at the planned end offset, not after a record count: transaction
//! markers and aborted records take offsets too. The checkpoint is the source of truth for offsets;
//! the group's committed offsets are written after it, for lag tooling only.

use super::{UnitCtx, WorkUnit};
use crate::listing::InputFile;
use crate::{ConnectorError, Result};
use arrow::array::{ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use millrace_spec::{KafkaFormat, KafkaSourceSpec, KafkaStart};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod group;

/// Columns every Kafka source adds: where each record came from.
pub const TOPIC_COLUMN: &str = "_kafka_topic";
pub const PARTITION_COLUMN: &str = "_kafka_partition";
pub const OFFSET_COLUMN: &str = "_kafka_offset";
pub const TIMESTAMP_COLUMN: &str = "_kafka_timestamp";
pub const KEY_COLUMN: &str = "_kafka_key";

const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
/// KiB a partition's reader prefetches (see [`PartitionReader::open`]).
const READ_PREFETCH_KB: u32 = 2048;
/// Records sampled to infer the columns of JSON messages.
const SAMPLE_RECORDS: usize = 1000;

/// A topic partition.
pub type Partition = (String, i32);

/// The unit URL of a partition.
pub fn unit_url(topic: &str, partition: i32) -> String {
    format!("kafka://{topic}/{partition}")
}

/// The partition a unit URL names.
pub fn parse_unit_url(url: &str) -> Option<Partition> {
    let rest = url.strip_prefix("kafka://")?;
    let (topic, p) = rest.rsplit_once('/')?;
    Some((topic.to_string(), p.parse().ok()?))
}

fn unit(topic: &str, partition: i32, start: i64, end: i64) -> WorkUnit {
    // `size` is the planned end: a partition's address space ends where this unit does.
    WorkUnit {
        file: InputFile { url: unit_url(topic, partition), size: end.max(0) as u64, etag: None, partition: None },
        range: Some((start.max(0) as u64, end.max(0) as u64)),
    }
}

fn kafka_err(what: &str, e: KafkaError) -> ConnectorError {
    ConnectorError::read(&format!("kafka {what}"), e)
}

/// The Kafka source of a spec: planning offset ranges, and committing offsets to the group.
#[derive(Clone)]
pub struct KafkaSource {
    spec: Arc<KafkaSourceSpec>,
    /// A scale-out lane reads one partition only.
    only: Option<Partition>,
    /// A scale-out worker's group membership: offsets are committed through it.
    member: Option<Arc<group::Member>>,
    /// Each partition's reader, kept between epochs where the last unit ended: the next epoch's
    /// unit of that partition starts there, so its consumer, its connection and what it already
    /// fetched past the last unit's end are used, not fetched and decompressed again.
    readers: Arc<Mutex<HashMap<Partition, PartitionReader>>>,
}

impl std::fmt::Debug for KafkaSource {
    // Options may hold credentials: only brokers and topics are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KafkaSource({} {:?})", self.spec.brokers, self.spec.topics)
    }
}

impl KafkaSource {
    pub fn new(spec: &KafkaSourceSpec) -> Self {
        Self { spec: Arc::new(spec.clone()), only: None, member: None, readers: Arc::default() }
    }

    /// The source of one scale-out lane: `partition` only, offsets committed through `member`.
    pub fn lane(&self, partition: Partition, member: Option<Arc<group::Member>>) -> Self {
        Self { spec: self.spec.clone(), only: Some(partition), member, readers: Arc::default() }
    }

    pub fn spec(&self) -> &KafkaSourceSpec {
        &self.spec
    }

    /// The client settings every consumer of this source uses; `options` come last so a user can
    /// override anything but the settings exactly-once depends on, which are set again after them.
    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.spec.brokers).set("group.id", &self.spec.group);
        for (k, v) in &self.spec.options {
            c.set(k, v);
        }
        c.set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true");
        c
    }

    fn base_consumer(&self) -> Result<BaseConsumer> {
        self.config().create().map_err(|e| kafka_err("client", e))
    }

    /// Every partition of the topics with its low and high offsets (the high offset of a
    /// `read_committed` client is the last stable offset: open transactions are not planned).
    pub async fn watermarks(&self) -> Result<BTreeMap<Partition, (i64, i64)>> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let c = this.base_consumer()?;
            let mut out = BTreeMap::new();
            for topic in &this.topic_names(&c)? {
                let md = c.fetch_metadata(Some(topic), METADATA_TIMEOUT).map_err(|e| kafka_err("metadata", e))?;
                for t in md.topics() {
                    if let Some(e) = t.error() {
                        return Err(ConnectorError::read(&format!("kafka topic {topic}"), format!("{e:?}")));
                    }
                    for p in t.partitions() {
                        if this.only.as_ref().is_some_and(|(ot, op)| ot != topic || *op != p.id()) {
                            continue;
                        }
                        let w = c.fetch_watermarks(topic, p.id(), METADATA_TIMEOUT).map_err(|e| kafka_err("watermarks", e))?;
                        out.insert((topic.clone(), p.id()), w);
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| ConnectorError::read("kafka metadata", e.to_string()))?
    }

    /// The topics to read: `topics`, or those the brokers have whose names match `topic_pattern`
    /// from their start (internal `__` topics never).
    fn topic_names(&self, c: &BaseConsumer) -> Result<Vec<String>> {
        let Some(p) = &self.spec.topic_pattern else { return Ok(self.spec.topics.clone()) };
        // Anchored at the start, as librdkafka's subscription regex is.
        let anchored = if p.starts_with('^') { p.clone() } else { format!("^(?:{p})") };
        let re = regex::Regex::new(&anchored).map_err(|e| ConnectorError::read("kafka topic_pattern", e))?;
        let md = c.fetch_metadata(None, METADATA_TIMEOUT).map_err(|e| kafka_err("metadata", e))?;
        let mut names: Vec<String> = md.topics().iter().map(|t| t.name().to_string()).filter(|n| !n.starts_with("__") && re.is_match(n)).collect();
        names.sort();
        Ok(names)
    }

    /// What a group member subscribes to: the topics, or the pattern (librdkafka reads a
    /// subscription starting with `^` as a regular expression).
    pub(crate) fn subscription(&self) -> Vec<String> {
        match &self.spec.topic_pattern {
            Some(p) if p.starts_with('^') => vec![p.clone()],
            Some(p) => vec![format!("^({p})")],
            None => self.spec.topics.clone(),
        }
    }

    /// Where each partition starts when no checkpoint covers it.
    pub fn initial(&self, low: i64, high: i64) -> i64 {
        match self.spec.start {
            KafkaStart::Earliest => low,
            KafkaStart::Latest => high,
        }
    }

    /// Records the next epoch may take: `epoch.max_records`, lowered so that `epoch.max_bytes` holds
    /// at `record_bytes` (the mean payload size read so far) when both are known.
    pub fn epoch_records(&self, record_bytes: Option<u64>) -> u64 {
        let by_bytes = match (self.spec.epoch.max_bytes, record_bytes) {
            (Some(max), Some(per)) if per > 0 => (max.0 / per).max(1),
            _ => u64::MAX,
        };
        self.spec.epoch.max_records.min(by_bytes)
    }

    /// The next epoch's units: from each partition's next offset towards `bound`, at most `records`
    /// records in all (see [`Self::epoch_records`]), shared fairly between partitions with records left.
    pub fn plan_epoch(&self, next: &BTreeMap<Partition, i64>, bound: &BTreeMap<Partition, i64>, records: u64) -> Vec<WorkUnit> {
        let mut left: Vec<(&Partition, i64, i64)> = bound
            .iter()
            .filter_map(|(p, end)| {
                let start = *next.get(p)?;
                (*end > start).then_some((p, start, *end))
            })
            .collect();
        let mut budget = records.min(i64::MAX as u64) as i64;
        let mut ends: BTreeMap<&Partition, i64> = left.iter().map(|(p, s, _)| (*p, *s)).collect();
        while budget > 0 && !left.is_empty() {
            let share = (budget / left.len() as i64).max(1);
            for (p, _, end) in &left {
                let cur = ends.get_mut(p).expect("planned partition");
                let take = share.min(end - *cur).min(budget);
                *cur += take;
                budget -= take;
            }
            left.retain(|(p, _, end)| ends[p] < *end);
        }
        next.iter()
            .filter_map(|(p, start)| {
                let end = *ends.get(p)?;
                (end > *start).then(|| unit(&p.0, p.1, *start, end))
            })
            .collect()
    }

    /// Commits the ends of `units` as the group's offsets. Only for lag tooling: a failure is
    /// reported, and the next checkpoint commits again.
    pub async fn commit_offsets(&self, units: &[WorkUnit]) -> Result<()> {
        if let Some(m) = &self.member {
            let offsets: Vec<(Partition, i64)> =
                units.iter().filter_map(|u| Some((parse_unit_url(&u.file.url)?, u.range?.1 as i64))).collect();
            return m.commit(&offsets);
        }
        let mut tpl = TopicPartitionList::new();
        for u in units {
            if let (Some((t, p)), Some((_, end))) = (parse_unit_url(&u.file.url), u.range) {
                tpl.add_partition_offset(&t, p, Offset::Offset(end as i64)).map_err(|e| kafka_err("offsets", e))?;
            }
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let c = this.base_consumer()?;
            c.commit(&tpl, CommitMode::Sync).map_err(|e| kafka_err("offset commit", e))
        })
        .await
        .map_err(|e| ConnectorError::read("kafka offset commit", e.to_string()))?
    }

    /// The run's columns: for JSON, those of a sample of the planned records (plus the id and
    /// text columns), then the `_kafka_*` columns.
    pub async fn schema(&self, units: &[WorkUnit], opts: &super::ReadOptions) -> Result<SchemaRef> {
        let mut inferred = Schema::empty();
        if self.spec.format == KafkaFormat::Json {
            let mut values = Vec::new();
            // Every planned partition is sampled, so a field that only one partition carries is seen.
            let per_unit = (SAMPLE_RECORDS / units.len().max(1)).max(100);
            for u in units {
                if values.len() >= SAMPLE_RECORDS {
                    break;
                }
                // The unit's own reader samples, then gives the records back to be read again.
                let mut r = self.reader(u)?;
                let start = r.at;
                let mut taken = Vec::new();
                while taken.len() < per_unit && values.len() < SAMPLE_RECORDS {
                    let Some(m) = r.next().await? else { break };
                    if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_slice::<serde_json::Value>(&m.payload) {
                        values.push(v);
                    }
                    taken.push(m);
                }
                r.unread(start, taken);
                self.keep(r);
            }
            inferred = super::schema::infer_values(&values);
        }
        let mut fields = super::columns(&inferred, opts);
        fields.retain(|f| !f.name().starts_with("_kafka_"));
        fields.extend(kafka_fields());
        Ok(Arc::new(Schema::new(fields)))
    }
}

impl KafkaSource {
    /// A reader positioned at the unit's start: the partition's kept reader when it stopped
    /// exactly there, a new one otherwise.
    fn reader(&self, unit: &WorkUnit) -> Result<PartitionReader> {
        let (topic, partition) = parse_unit_url(&unit.file.url).ok_or_else(|| ConnectorError::read(&unit.file.url, "not a Kafka unit"))?;
        let (start, end) = unit.range.map(|(a, b)| (a as i64, b as i64)).unwrap_or((0, 0));
        let kept = self.readers.lock().map_err(|_| ConnectorError::read(&unit.file.url, "reader pool poisoned"))?.remove(&(topic, partition));
        match kept {
            Some(mut r) if r.at == start && end > start => {
                r.url = unit.file.url.clone();
                r.end = end;
                Ok(r)
            }
            _ => PartitionReader::open(self, unit),
        }
    }

    /// Keeps a reader that stopped at its unit's end (or was given its records back) for the
    /// partition's next unit.
    fn keep(&self, r: PartitionReader) {
        if let Ok(mut pool) = self.readers.lock() {
            pool.insert((r.topic.clone(), r.partition), r);
        }
    }
}

/// A reader's client events. A reader kept between epochs sits at its partition's end, and
/// librdkafka reports the end of partition it reaches there as a global error: it is the
/// expected state of a caught-up reader, not an error.
struct ReaderContext;

impl rdkafka::ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF)) {
            tracing::debug!(target: "rdkafka::client", "librdkafka: {error}: {reason}");
        } else {
            tracing::error!(target: "rdkafka::client", "librdkafka: {error}: {reason}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for ReaderContext {}

/// Reads one planned unit's records in offset order and stops at its planned end.
struct PartitionReader {
    consumer: StreamConsumer<ReaderContext>,
    url: String,
    topic: String,
    partition: i32,
    /// The next offset to deliver.
    at: i64,
    end: i64,
    timeout: Duration,
    /// Records received but not delivered yet: past the last unit's end, or given back by the
    /// schema sampler.
    held: VecDeque<Record>,
}

impl PartitionReader {
    /// Goes back to `start` (where the delivered `records` began, in offset order): they are
    /// delivered again first.
    fn unread(&mut self, start: i64, records: Vec<Record>) {
        self.at = start;
        for r in records.into_iter().rev() {
            self.held.push_front(r);
        }
    }

    /// A reader whose consumer prefetches about [`READ_PREFETCH_KB`] ahead. librdkafka prefetches
    /// up to 64 MiB per consumer by default and a worker reads every partition at once: keep the
    /// prefetch near a few batches unless the spec sets it.
    fn open(source: &KafkaSource, unit: &WorkUnit) -> Result<Self> {
        let (topic, partition) = parse_unit_url(&unit.file.url).ok_or_else(|| ConnectorError::read(&unit.file.url, "not a Kafka unit"))?;
        let (start, end) = unit.range.map(|(a, b)| (a as i64, b as i64)).unwrap_or((0, 0));
        let mut config = source.config();
        if !source.spec.options.contains_key("queued.max.messages.kbytes") {
            config.set("queued.max.messages.kbytes", READ_PREFETCH_KB.to_string());
        }
        let consumer: StreamConsumer<ReaderContext> = config.create_with_context(ReaderContext).map_err(|e| kafka_err("client", e))?;
        if end > start {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&topic, partition, Offset::Offset(start)).map_err(|e| kafka_err("assign", e))?;
            consumer.assign(&tpl).map_err(|e| kafka_err("assign", e))?;
        }
        let timeout = Duration::from_secs(source.spec.read_timeout_seconds.max(1));
        Ok(Self { consumer, url: unit.file.url.clone(), topic, partition, at: start, end, timeout, held: VecDeque::new() })
    }

    /// The next record below the planned end, or `None` when the unit is done.
    async fn next(&mut self) -> Result<Option<Record>> {
        if let Some(r) = self.held.front() {
            if r.offset >= self.end {
                self.at = self.at.max(self.end);
                return Ok(None);
            }
            let r = self.held.pop_front();
            if let Some(r) = &r {
                self.at = r.offset + 1;
            }
            return Ok(r);
        }
        let since = std::time::Instant::now();
        while self.at < self.end {
            let left = self.timeout.saturating_sub(since.elapsed());
            let got = match tokio::time::timeout(left, self.consumer.recv()).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(ConnectorError::read(
                        &self.url,
                        format!("no progress for {}s at offset {} (planned up to {}); is the broker reachable?", self.timeout.as_secs(), self.at, self.end),
                    ));
                }
            };
            match got {
                Ok(m) => {
                    let offset = m.offset();
                    if offset < self.at {
                        continue;
                    }
                    let r = Record {
                        offset,
                        timestamp: m.timestamp().to_millis(),
                        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    };
                    if offset >= self.end {
                        // The first record of the partition's next unit: held for it.
                        self.held.push_back(r);
                        self.at = self.end;
                        return Ok(None);
                    }
                    self.at = offset + 1;
                    return Ok(Some(r));
                }
                // The fetch position reached the partition's end: what a read_committed consumer
                // can see below `end` has been delivered (the rest are markers or aborted records).
                Err(KafkaError::PartitionEOF(_)) => {
                    let pos = self
                        .consumer
                        .position()
                        .ok()
                        .and_then(|p| p.find_partition(&self.topic, self.partition).and_then(|e| e.offset().to_raw()));
                    if pos.is_some_and(|p| p >= self.end) {
                        self.at = self.end;
                    }
                }
                // librdkafka reconnects and retries by itself: a broker that is down or moving
                // is only an error once the unit has made no progress for the read timeout.
                Err(KafkaError::MessageConsumption(code)) if transient(code) => {
                    tracing::warn!(unit = %self.url, error = %code, "broker trouble while reading; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(kafka_err(&self.url, e)),
            }
        }
        Ok(None)
    }
}

/// Errors a consumer reports while it reconnects or follows a new leader.
fn transient(code: rdkafka::types::RDKafkaErrorCode) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        code,
        C::AllBrokersDown
            | C::BrokerTransportFailure
            | C::NetworkException
            | C::RequestTimedOut
            | C::OperationTimedOut
            | C::NotLeaderForPartition
            | C::LeaderNotAvailable
            | C::BrokerNotAvailable
            | C::NotCoordinator
            | C::CoordinatorLoadInProgress
    )
}

/// One message as the reader keeps it.
struct Record {
    offset: i64,
    timestamp: Option<i64>,
    key: Option<String>,
    payload: Vec<u8>,
}

fn kafka_fields() -> Vec<Field> {
    vec![
        Field::new(TOPIC_COLUMN, DataType::Utf8, false),
        Field::new(PARTITION_COLUMN, DataType::Int32, false),
        Field::new(OFFSET_COLUMN, DataType::Int64, false),
        Field::new(TIMESTAMP_COLUMN, DataType::Int64, true),
        Field::new(KEY_COLUMN, DataType::Utf8, true),
    ]
}

/// Good records of a batch being built.
#[derive(Default)]
struct Batcher {
    buf: Vec<u8>,
    rows: Vec<(i64, Option<i64>, Option<String>)>,
    texts: StringBuilder,
    bytes: usize,
}

/// Reads one planned unit: good records in batches, bad ones to the rejects with their topic,
/// partition and offset.
pub(crate) async fn read(ctx: &UnitCtx<'_>, source: &KafkaSource) -> Result<()> {
    let (topic, partition) = parse_unit_url(ctx.url()).ok_or_else(|| ConnectorError::read(ctx.url(), "not a Kafka unit"))?;
    let json = source.spec.format == KafkaFormat::Json;
    let ints: Vec<&str> = ctx
        .schema
        .fields()
        .iter()
        .filter(|f| f.data_type().is_integer() && !f.name().starts_with("_kafka_"))
        .map(|f| f.name().as_str())
        .collect();
    let max = ctx.opts.max_record_bytes;
    // The columns the payloads decode into: the run's, without the `_kafka_*` ones added after.
    let data_fields: Vec<Field> = ctx.schema.fields().iter().filter(|f| !f.name().starts_with("_kafka_")).map(|f| f.as_ref().clone()).collect();
    let data_schema: SchemaRef = Arc::new(Schema::new(data_fields));
    let known = super::schema::Known::of(ctx.schema, ctx.opts.schema.mode);
    let mut reader = source.reader(ctx.unit)?;
    let mut b = Batcher::default();
    while let Some(r) = reader.next().await? {
        let len = r.payload.len();
        ctx.metrics.bytes_read.fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
        let mut admitted = None;
        let problem = if max > 0 && len as u64 > max {
            Some(format!("record_too_large: {len} bytes, over max_record_bytes ({max})"))
        } else if json {
            match super::jsonl::admit(&r.payload, &ctx.opts.text_field, &ints, &known) {
                Ok(rec) => {
                    admitted = Some(rec);
                    None
                }
                Err(reason) => Some(reason),
            }
        } else {
            std::str::from_utf8(&r.payload).err().map(|e| format!("invalid_utf8: {e}"))
        };
        if let Some(reason) = problem {
            ctx.metrics.rows_rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let rej = crate::reject::Reject {
                id: if json { crate::reject::readable_id(&r.payload, &ctx.opts.id_field) } else { None },
                stage: "source".into(),
                reason,
                source: Some(format!("{}@{}", ctx.url(), r.offset)),
                offset: Some(r.offset as u64),
                ..Default::default()
            };
            ctx.rejects.send(rej.with_raw(&r.payload, None)).await;
            continue;
        }
        if json {
            b.buf.extend_from_slice(admitted.as_deref().unwrap_or(&r.payload));
            b.buf.push(b'\n');
        } else {
            b.texts.append_value(String::from_utf8_lossy(&r.payload));
        }
        b.bytes += len;
        b.rows.push((r.offset, r.timestamp, r.key));
        if b.bytes >= ctx.opts.batch_bytes || b.rows.len() >= ctx.opts.batch_rows.max(1) {
            let full = std::mem::take(&mut b);
            if !ctx.emit(to_batch(ctx, &data_schema, &topic, partition, full, json)?).await {
                return Ok(());
            }
        }
    }
    if !b.rows.is_empty() && !ctx.emit(to_batch(ctx, &data_schema, &topic, partition, b, json)?).await {
        return Ok(());
    }
    source.keep(reader);
    Ok(())
}

fn to_batch(ctx: &UnitCtx<'_>, data_schema: &SchemaRef, topic: &str, partition: i32, mut b: Batcher, json: bool) -> Result<RecordBatch> {
    let n = b.rows.len();
    let data = if json {
        super::jsonl::decode_with(data_schema, &b.buf, n).map_err(|e| ConnectorError::read(ctx.url(), e))?
    } else {
        let texts: ArrayRef = Arc::new(b.texts.finish());
        let cols: Vec<ArrayRef> = data_schema
            .fields()
            .iter()
            .map(|f| if f.name() == &ctx.opts.text_field { texts.clone() } else { arrow::array::new_null_array(f.data_type(), n) })
            .collect();
        RecordBatch::try_new(data_schema.clone(), cols).map_err(|e| ConnectorError::read(ctx.url(), e))?
    };
    let (mut t, mut p, mut o, mut ts, mut k) =
        (StringBuilder::new(), Int32Builder::new(), Int64Builder::new(), Int64Builder::new(), StringBuilder::new());
    for (offset, timestamp, key) in &b.rows {
        t.append_value(topic);
        p.append_value(partition);
        o.append_value(*offset);
        ts.append_option(*timestamp);
        k.append_option(key.as_deref());
    }
    let mut cols = data.columns().to_vec();
    cols.extend([Arc::new(t.finish()) as ArrayRef, Arc::new(p.finish()), Arc::new(o.finish()), Arc::new(ts.finish()), Arc::new(k.finish())]);
    let batch = RecordBatch::try_new(ctx.schema.clone(), cols).map_err(|e| ConnectorError::schema(ctx.url(), e))?;
    super::fill_ids(batch, 0, |i| format!("{topic}/{partition}/{}", b.rows.get(i).map(|r| r.0).unwrap_or(-1)))
}
