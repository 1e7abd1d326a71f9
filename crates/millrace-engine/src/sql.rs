//! User SQL, as queries only.

use datafusion::prelude::SessionContext;

/// Runs user SQL (a `sql:` stage, a `sql` check) as a query only: DDL (`CREATE`), DML (`INSERT`,
/// `COPY … TO`) and statements (`SET`) are refused, so a spec cannot write or change anything
/// through SQL.
pub async fn query(ctx: &SessionContext, sql: &str) -> datafusion::error::Result<datafusion::dataframe::DataFrame> {
    let options = datafusion::execution::context::SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    ctx.sql_with_options(sql, options).await
}

