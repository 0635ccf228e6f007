//! The store conformance suite: each function is one behaviour, asserted through the `Store` and
//! `Queue` traits only. Backends run all of them via `store_conformance_tests!`.

mod embeddings;
mod execution;
mod projects;
mod queue;
mod runs;

pub use embeddings::*;
pub use execution::*;
pub use projects::*;
pub use queue::*;
pub use runs::*;

use researchops_core::{
    CreateRunOutcome, FailureCode, Lane, NewProject, NewRun, ProjectId, RunId, RunOptions, Store,
    TenantId,
};
use std::sync::Arc;
use std::time::Duration;

pub(crate) const LEASE: Duration = Duration::from_secs(30);

pub(crate) async fn tenant(store: &Arc<dyn Store>) -> TenantId {
    let t = TenantId::new();
    store.ensure_tenant(t, "tenant").await.unwrap();
    t
}

pub(crate) async fn project(store: &Arc<dyn Store>, t: TenantId, name: &str) -> ProjectId {
    store
        .create_project(
            t,
            NewProject {
                name: name.into(),
                description: None,
            },
        )
        .await
        .unwrap()
        .id
}

pub(crate) fn new_run(project: ProjectId, question: &str, key: Option<&str>) -> NewRun {
    NewRun {
        project_id: project,
        question: question.into(),
        sources: vec!["local".into()],
        options: RunOptions::default(),
        client_request_id: key.map(str::to_string),
        lane: Lane::default(),
    }
}

pub(crate) async fn create(
    store: &Arc<dyn Store>,
    t: TenantId,
    p: ProjectId,
    question: &str,
) -> RunId {
    match store
        .create_run(t, new_run(p, question, None), 3)
        .await
        .unwrap()
    {
        CreateRunOutcome::Created(id) => id,
        other => panic!("expected a new run, got {other:?}"),
    }
}

pub(crate) async fn event_types(store: &Arc<dyn Store>, t: TenantId, run: RunId) -> Vec<String> {
    store
        .list_events(t, run, None, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event_type.as_str().to_string())
        .collect()
}
