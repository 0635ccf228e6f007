//! Test support shared by the backends: the **store conformance suite** — behaviour every `Store` +
//! `Queue` implementation must show, written once against the traits — and the macro that turns it
//! into one `#[tokio::test]` per check for a backend. Never shipped in the binary.

#![expect(
    clippy::unwrap_used,
    reason = "test support: a failed unwrap is a failed test"
)]

pub mod conformance;
pub mod moto;

use researchops_core::Store;
use std::any::Any;
use std::sync::Arc;

/// A fresh, empty store and whatever keeps it alive (a temp dir, a database guard).
pub struct StoreUnderTest {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Dropped after the test.
    pub guard: Box<dyn Any + Send>,
}

/// Generates the conformance tests for a backend. `$factory` is an async fn returning a
/// [`StoreUnderTest`] over a fresh, empty database.
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:path) => {
        $crate::store_conformance_tests!(@tests $factory;
            projects_are_tenant_scoped_paginated_and_patched,
            runs_are_created_with_their_events_and_job_in_one_step,
            a_repeated_client_request_id_returns_the_same_run_or_conflicts,
            concurrent_identical_requests_create_exactly_one_run,
            cancel_and_retry_follow_the_state_machine,
            claims_respect_the_slot_count_and_rotate_across_tenants,
            a_stale_lease_can_commit_nothing,
            expired_leases_are_rescued_and_the_run_resumes_with_a_warning,
            exhausted_attempts_fail_the_run,
            stage_commits_are_atomic_and_readable,
            events_are_ordered_and_resumable_by_id,
            the_fallback_poll_reports_the_newest_event_of_each_watched_run,
            projects_with_active_runs_cannot_be_deleted_and_deletion_cascades,
            noop_jobs_complete_in_batches_and_stale_completions_are_fenced,
            claims_take_jobs_from_their_own_lane_only,
            embeddings_are_cached_by_model_and_text_hash,
        );
    };
    (@tests $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let under_test = $factory().await;
                $crate::conformance::$name(under_test.store.clone()).await;
                drop(under_test);
            }
        )*
    };
}
