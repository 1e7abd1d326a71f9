//! The run's state records (manifests, checkpoints, pending commits, owner records) as read back.
#![no_main]
use millrace_connectors::commit::{Checkpoint, EpochManifest, PendingCommit};
use millrace_connectors::ownership::OwnerRecord;
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<EpochManifest>(data);
    let _ = serde_json::from_slice::<Checkpoint>(data);
    let _ = serde_json::from_slice::<PendingCommit>(data);
    let _ = serde_json::from_slice::<OwnerRecord>(data);
});
