//! Projects: tenant scoping, pagination, patches, deletion.

use super::*;
use researchops_core::{PageRequest, ProjectPatch, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

pub async fn projects_are_tenant_scoped_paginated_and_patched(store: Arc<dyn Store>) {
    let a = tenant(&store).await;
    let b = tenant(&store).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(project(&store, a, &format!("p{i}")).await);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let first = store
        .list_projects(a, &PageRequest::new(Some(2), None))
        .await
        .unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["p4", "p3"]
    );
    let second = store
        .list_projects(a, &PageRequest::new(Some(2), first.next_cursor.clone()))
        .await
        .unwrap();
    assert_eq!(
        second
            .items
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["p2", "p1"]
    );
    let third = store
        .list_projects(a, &PageRequest::new(Some(2), second.next_cursor.clone()))
        .await
        .unwrap();
    assert_eq!(third.items.len(), 1);
    assert!(third.next_cursor.is_none());
    assert!(matches!(
        store
            .list_projects(a, &PageRequest::new(None, Some("garbage".into())))
            .await,
        Err(StoreError::BadCursor)
    ));
    assert!(
        store
            .list_projects(b, &PageRequest::new(None, None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        store.get_project(b, ids[0]).await,
        Err(StoreError::NotFound)
    ));
    let patched = store
        .update_project(
            a,
            ids[0],
            ProjectPatch {
                name: Some("renamed".into()),
                description: Some(Some("d".into())),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (patched.name.as_str(), patched.description.as_deref()),
        ("renamed", Some("d"))
    );
    let cleared = store
        .update_project(
            a,
            ids[0],
            ProjectPatch {
                name: None,
                description: Some(None),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (cleared.name.as_str(), cleared.description),
        ("renamed", None)
    );
    assert!(matches!(
        store
            .update_project(b, ids[0], ProjectPatch::default())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_project(b, ids[0]).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn projects_with_active_runs_cannot_be_deleted_and_deletion_cascades(
    store: Arc<dyn Store>,
) {
    let t = tenant(&store).await;
    let p = project(&store, t, "p").await;
    let run = create(&store, t, p, "q").await;
    assert!(matches!(
        store.delete_project(t, p).await,
        Err(StoreError::Conflict(_))
    ));
    store.cancel_run(t, run).await.unwrap();
    store.delete_project(t, p).await.unwrap();
    assert!(matches!(
        store.get_project(t, p).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_run(t, run).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.list_events(t, run, None, 10).await,
        Err(StoreError::NotFound)
    ));
}
