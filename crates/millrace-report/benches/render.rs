//! Rendering cost of the governance outputs for a realistic run report
//! (throughput is reported in bytes of output produced).

#[path = "../tests/common/mod.rs"]
mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use millrace_report::lineage::{LineageBuilder, LineageConfig};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let report = common::realistic_report();
    let mut g = c.benchmark_group("report");
    let html_len = millrace_report::render_html(&report).len() as u64;
    g.throughput(Throughput::Bytes(html_len));
    g.bench_function("render_html", |b| b.iter(|| millrace_report::render_html(black_box(&report))));
    let cfg = LineageConfig::default();
    let lb = LineageBuilder::new(&cfg);
    let ev_len = serde_json::to_string(&lb.finish(&report).expect("finished report")).map(|s| s.len()).unwrap_or(0) as u64;
    g.throughput(Throughput::Bytes(ev_len));
    g.bench_function("openlineage_fail_event_json", |b| {
        b.iter(|| serde_json::to_string(&lb.finish(black_box(&report)).expect("finished report")).map(|s| s.len()))
    });
    let junit_len = millrace_report::render_junit(&report.checks, "millrace").len() as u64;
    g.throughput(Throughput::Bytes(junit_len));
    g.bench_function("render_junit", |b| b.iter(|| millrace_report::render_junit(black_box(&report.checks), "millrace")));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
