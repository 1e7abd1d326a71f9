//! Kafka topics a run produces to: a `kafka:` sink (its rows, staged and published as a JSONL sink
//! under the state like any sink's files, then produced) and the dead-letter topic (the committed
//! rejects). An epoch's published files are produced as their JSON lines after they are published
//! and before the checkpoint. The producer is idempotent, so retries within a run do not repeat a
//! record; a crash between the produce and the checkpoint re-runs the epoch and produces its
//! records again: at least once, each record keyed by `key_field` and carrying the epoch in a
//! header, so a consumer can drop repeats.

use super::StagedFile;
use crate::store::{Location, storage};
use crate::{ConnectorError, Result};
use millrace_spec::TopicSpec;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::time::Duration;

/// Records in flight before the producer waits for their deliveries.
const WINDOW: usize = 1000;
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct TopicWriter {
    producer: FutureProducer,
    topic: String,
    key_field: String,
}

impl std::fmt::Debug for TopicWriter {
    // Options may hold credentials: only the topic is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TopicWriter({})", self.topic)
    }
}

fn err(what: &str, e: impl Into<crate::BoxError>) -> ConnectorError {
    ConnectorError::write(&format!("kafka topic {what}"), e)
}

impl TopicWriter {
    /// `default_key`: the field that keys records when the spec names none.
    pub fn new(spec: &TopicSpec, default_key: &str) -> Result<Self> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &spec.brokers);
        for (k, v) in &spec.options {
            c.set(k, v);
        }
        c.set("enable.idempotence", "true");
        let producer = c.create().map_err(|e| err(&spec.topic, e))?;
        Ok(Self { producer, topic: spec.topic.clone(), key_field: spec.key_field.clone().unwrap_or_else(|| default_key.to_string()) })
    }

    /// Produces every line of `files` (below `base`) and waits for their deliveries; returns how
    /// many were produced.
    pub async fn send(&self, base: &Location, files: &[StagedFile], epoch: u64) -> Result<u64> {
        use futures::TryStreamExt;
        use object_store::ObjectStoreExt;
        use tokio::io::AsyncBufReadExt;
        let epoch_header = epoch.to_string();
        let mut sent = 0u64;
        for f in files {
            let loc = base.child(&f.path);
            let got = loc.store.get(&loc.path).await.map_err(|e| storage("get", &loc.url(), e))?;
            let stream = got.into_stream().map_err(std::io::Error::other);
            let mut lines = tokio_util::io::StreamReader::new(stream).lines();
            let mut window = Vec::with_capacity(WINDOW);
            while let Some(line) = lines.next_line().await.map_err(|e| err(&self.topic, e))? {
                let key = serde_json::from_str::<serde_json::Value>(&line).ok().and_then(|v| match v.get(&self.key_field)? {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                });
                let headers = OwnedHeaders::new().insert(Header { key: "millrace-epoch", value: Some(&epoch_header) });
                let mut rec = FutureRecord::to(&self.topic).payload(&line).headers(headers);
                if let Some(k) = &key {
                    rec = rec.key(k);
                }
                // `send_result` copies the record into librdkafka's queue; a full queue is waited out.
                let delivery = loop {
                    match self.producer.send_result(rec) {
                        Ok(d) => break d,
                        Err((rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), back)) => {
                            rec = back;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err((e, _)) => return Err(err(&self.topic, e)),
                    }
                };
                window.push(delivery);
                if window.len() >= WINDOW {
                    sent += self.deliver(std::mem::take(&mut window)).await?;
                }
            }
            sent += self.deliver(window).await?;
        }
        self.producer.flush(DELIVERY_TIMEOUT).map_err(|e| err(&self.topic, e))?;
        Ok(sent)
    }

    async fn deliver(&self, window: Vec<rdkafka::producer::DeliveryFuture>) -> Result<u64> {
        let n = window.len() as u64;
        for r in futures::future::join_all(window).await {
            match r {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(err(&self.topic, e)),
                Err(_) => return Err(err(&self.topic, "the producer went away before the delivery report")),
            }
        }
        Ok(n)
    }
}
