//! Spawned work that cannot fail silently: a panic inside a task becomes an error on the stream the
//! task feeds, so the epoch fails instead of ending early as if its input were complete.

use std::any::Any;

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}
