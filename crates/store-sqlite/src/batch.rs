//! Group commit for run creation, the API's hottest write. Concurrent `create_run` calls queue here;
//! one task drains whatever is waiting (up to [`MAX_BATCH`]) and executes it in a single write
//! transaction, so the transaction overhead and the WAL write are paid once per batch instead of once
//! per run. Each request's outcome is decided inside the transaction, so idempotency keys behave
//! exactly as one-by-one. If a batch fails as a whole, its requests are retried one by one so one bad
//! request cannot fail its neighbours.

use crate::rows::db_err;
use crate::runs::{CreateRequest, create_in};
use researchops_core::{CreateRunOutcome, EventHub, EventNotice, JobWakeup, StoreError};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

/// Most creations committed together.
const MAX_BATCH: usize = 64;

type Reply = oneshot::Sender<Result<CreateRunOutcome, StoreError>>;

/// The queue in front of the batching task.
#[derive(Clone, Debug)]
pub(crate) struct CreateBatcher {
    sender: mpsc::Sender<(CreateRequest, Reply)>,
}

impl CreateBatcher {
    /// Starts the batching task over the writer pool.
    pub(crate) fn start(writer: SqlitePool, hub: EventHub, wakeup: JobWakeup) -> Self {
        let (sender, receiver) = mpsc::channel(1024);
        tokio::spawn(run(receiver, writer, hub, wakeup));
        Self { sender }
    }

    /// Queues a creation and waits for its outcome.
    pub(crate) async fn create(
        &self,
        request: CreateRequest,
    ) -> Result<CreateRunOutcome, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.sender
            .send((request, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the store is closing".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Internal("the run-creation task stopped".into()))?
    }
}

async fn run(
    mut receiver: mpsc::Receiver<(CreateRequest, Reply)>,
    writer: SqlitePool,
    hub: EventHub,
    wakeup: JobWakeup,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let requests: Vec<CreateRequest>;
        let replies: Vec<Reply>;
        (requests, replies) = batch.drain(..).unzip();
        let outcomes = match commit_together(&writer, &requests).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                tracing::warn!(error = %e, size = requests.len(), "batched run creation failed; retrying one by one");
                let mut outcomes = Vec::with_capacity(requests.len());
                for request in &requests {
                    outcomes.push(
                        match commit_together(&writer, std::slice::from_ref(request)).await {
                            Ok(mut one) => one
                                .pop()
                                .unwrap_or_else(|| Err(StoreError::Internal("no outcome".into()))),
                            Err(e) => Err(e),
                        },
                    );
                }
                outcomes
            }
        };
        let mut any_created = false;
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let outcome = outcome.map(|(outcome, notice)| {
                if let Some(notice) = notice {
                    hub.publish(notice);
                    any_created = true;
                }
                outcome
            });
            let _ = reply.send(outcome);
        }
        if any_created {
            wakeup.notify();
        }
    }
}

type Outcome = Result<(CreateRunOutcome, Option<EventNotice>), StoreError>;

/// One transaction for all `requests`; a request's own failure (unknown project, conflicting key) is
/// its outcome, any other failure aborts the batch.
async fn commit_together(
    writer: &SqlitePool,
    requests: &[CreateRequest],
) -> Result<Vec<Outcome>, StoreError> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    let mut outcomes = Vec::with_capacity(requests.len());
    for request in requests {
        match create_in(&mut tx, request).await {
            Ok(done) => outcomes.push(Ok(done)),
            Err(e @ (StoreError::NotFound | StoreError::Conflict(_))) => outcomes.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(outcomes)
}
