//! Storing failing rows: up to N rows per failed check as one Parquet file, for people to look at.

use crate::GovernanceError;
use datafusion::prelude::{DataFrame, Expr, SessionContext};
use millrace_connectors::store::Location;
use millrace_spec::CheckKind;
use std::sync::Arc;
use crate::compile::{Unit, quote_ident};

/// File-name-safe form of a check name.
fn slug(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let s = s.trim_matches('_').to_string();
    if s.is_empty() { "check".into() } else { s }
}

/// Writes up to `cap` failing rows of one check as `<store>/<NN>-<name>.parquet`.
pub(crate) async fn store_failures(
    ctx: &SessionContext,
    table: &DataFrame,
    u: &Unit<'_>,
    pred: Option<Expr>,
    store: &Location,
    index: usize,
    cap: usize,
) -> Result<Option<String>, GovernanceError> {
    let df = match (&u.spec.kind, pred) {
        (_, Some(p)) => table.clone().filter(p)?,
        (CheckKind::Unique(_) | CheckKind::DuplicateRate(_), _) => {
            let q = quote_ident(u.column.as_deref().unwrap_or(""));
            millrace_engine::sql::query(&ctx, &format!(
                "SELECT * FROM output WHERE {q} IN (SELECT {q} FROM output WHERE {q} IS NOT NULL GROUP BY {q} HAVING count(*) > 1) ORDER BY {q}"
            ))
            .await?
        }
        (CheckKind::Sql(s), _) if !s.is_scalar() => millrace_engine::sql::query(ctx, &s.query).await?,
        _ => return Ok(None),
    };
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.limit(0, Some(cap))?.collect().await?;
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None).map_err(|e| GovernanceError::write(store.url(), e))?;
    for b in &batches {
        w.write(b).map_err(|e| GovernanceError::write(store.url(), e))?;
    }
    w.close().map_err(|e| GovernanceError::write(store.url(), e))?;
    let loc = store.child(&format!("{index:02}-{}.parquet", slug(&u.name)));
    millrace_connectors::store::write_bytes(&loc, buf).await?;
    Ok(Some(loc.url()))
}

