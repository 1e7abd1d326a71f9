//! Where a run's data and records live, resolved once from the spec: the sinks, the rejects sink, the
//! state (lease, pending records, checkpoints), the run reports and the dedupe indexes. Every other
//! part of the system asks this, so a default (`<first sink>/_millrace`, `<state>/runs`) has one
//! owner.

use crate::Result;
use crate::sink::SinkConfig;
use crate::store::{Location, StoreRegistry};
use millrace_spec::{PipelineSpec, SinkKind, SinkSpec, Stage};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct RunLayout {
    /// The data sinks, in spec order.
    pub sinks: Vec<Arc<SinkConfig>>,
    /// Rows that could not be read or that a stage rejected, as JSONL.
    pub rejects: Arc<SinkConfig>,
    /// Lease, pending-commit records and checkpoints (of a scale-out lane: `<root state>/lanes/<lane>`).
    pub state: Location,
    /// The state the outputs' owner records name: the spec's state, also for its lanes.
    pub owner: Location,
    /// Run reports: `<reports>/<run id>/run.json`.
    pub reports: Location,
    /// Persistent dedupe indexes, by stage index.
    pub dedupe_indexes: BTreeMap<usize, Location>,
}

impl RunLayout {
    pub fn resolve(spec: &PipelineSpec, registry: &StoreRegistry) -> Result<Self> {
        let is_topic = |s: &SinkSpec| s.target().0 == SinkKind::Kafka;
        let first_url = spec.sinks.iter().find(|s| !is_topic(&s.value)).map(|s| s.value.target().1.to_string()).unwrap_or_default();
        let join = |base: &str, sub: &str| format!("{}/{}", base.trim_end_matches('/'), sub);
        // A Delta table is shared by the pipelines appending to it: inside one, the default
        // records of each pipeline are its own.
        let first_is_delta = spec.sinks.iter().find(|s| !is_topic(&s.value)).is_some_and(|s| s.value.target().0 == SinkKind::Delta);
        let own = |sub: &str| if first_is_delta { format!("{sub}/{}", spec.name.value) } else { sub.to_string() };
        let rejects_url = spec.rejects.as_ref().map(|r| r.value.clone()).unwrap_or_else(|| join(&first_url, &own("_rejects")));
        let state_url = spec.state.as_ref().map(|r| r.value.clone()).unwrap_or_else(|| join(&first_url, &own("_millrace")));
        let mut sinks = Vec::new();
        for (i, s) in spec.sinks.iter().enumerate() {
            // A Kafka sink's rows are staged and published under the state before they are produced.
            let url = if is_topic(&s.value) { join(&state_url, &format!("topics/{}", s.value.display_name(i))) } else { s.value.target().1.to_string() };
            let mut cfg = SinkConfig::from_spec(&s.value, i, registry.resolve(&url)?);
            if cfg.kind == SinkKind::Delta {
                cfg.delta = Some(Arc::new(crate::delta::DeltaSettings::from_spec(&spec.name.value, &cfg.name, &s.value)));
            }
            sinks.push(Arc::new(cfg));
        }
        let reports_url = spec.report.dir.clone().unwrap_or_else(|| join(&state_url, "runs"));
        let rejects = Arc::new(SinkConfig {
            name: "rejects".into(),
            kind: SinkKind::Jsonl,
            base: registry.resolve(&rejects_url)?,
            compression: "none".into(),
            target_file_size: 256 << 20,
            partition_by: vec![],
            row_group_rows: 0,
            row_group_bytes: 0,
            max_open_files: 1,
            target_tokens: 0,
            megatron_dtype: millrace_tokenise::MegatronDtype::for_vocab_size(0),
            lane: None,
            topic: None,
            delta: None,
        });
        let mut dedupe_indexes = BTreeMap::new();
        for (i, st) in spec.stages.iter().enumerate() {
            if let Stage::Dedupe(d) = &st.value {
                if let Some(url) = &d.index {
                    dedupe_indexes.insert(i, registry.resolve(url)?);
                }
            }
        }
        let state = registry.resolve(&state_url)?;
        Ok(Self { sinks, rejects, owner: state.clone(), state, reports: registry.resolve(&reports_url)?, dedupe_indexes })
    }

    /// Where a scale-out lane keeps its state: below the spec's.
    pub fn lane_state(&self, lane: &str) -> Location {
        self.owner.child(&format!("lanes/{lane}"))
    }

    /// The layout of one scale-out lane: its own state below the spec's, its name on every file.
    pub fn lane(&self, lane: &str) -> Self {
        let named = |s: &Arc<SinkConfig>| Arc::new(SinkConfig { lane: Some(lane.to_string()), ..s.as_ref().clone() });
        Self {
            sinks: self.sinks.iter().map(named).collect(),
            rejects: named(&self.rejects),
            state: self.lane_state(lane),
            owner: self.owner.clone(),
            reports: self.reports.clone(),
            dedupe_indexes: self.dedupe_indexes.clone(),
        }
    }

    /// Every location the run writes output to: the sinks, then the rejects.
    pub fn outputs(&self) -> impl Iterator<Item = &Arc<SinkConfig>> {
        self.sinks.iter().chain(std::iter::once(&self.rejects))
    }

    /// The directory of one run's report.
    pub fn report_dir(&self, run_id: &str) -> Location {
        self.reports.child(run_id)
    }
}
