//! Where one stage's work runs: on a thread of its own, driving the stage's async parts through the
//! runtime handle and sending its result back over a channel. The executor only waits on that channel,
//! so its time limit, a cancel request and a lost lease always fire, whatever the stage does (spin on
//! the CPU, block, ignore its token); an abandoned stage's result is simply never received.
//!
//! Also the buffer that collects a stage's progress events until the executor stores them.

use researchops_core::{BlobStore, Embedder, NewEvent, Run, Stage, StageCommit};
use researchops_pipeline::{Connectors, Progress, StageContext, StageError, Stages};
use std::any::Any;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// What a stage's thread sends back: its result, or the payload of its panic.
pub(crate) type StageResult = Result<Result<StageCommit, StageError>, Box<dyn Any + Send>>;

/// Collects events emitted inside a stage (from its thread); the executor takes and stores them.
#[derive(Default)]
pub(crate) struct EventBuffer(Mutex<Vec<NewEvent>>);

impl Progress for EventBuffer {
    fn emit(&self, event: NewEvent) {
        if let Ok(mut events) = self.0.lock() {
            events.push(event);
        }
    }
}

impl EventBuffer {
    /// Everything emitted since the last call, in order.
    pub(crate) fn take(&self) -> Vec<NewEvent> {
        self.0
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }
}

/// Everything a stage's thread owns while it runs (nothing borrowed from the executor, so the executor
/// can walk away from it).
pub(crate) struct StageInputs {
    pub run: Run,
    pub outputs: Arc<BTreeMap<Stage, serde_json::Value>>,
    pub connectors: Connectors,
    pub embedder: Option<Arc<dyn Embedder>>,
    pub blobs: Arc<dyn BlobStore>,
    pub stages: Arc<dyn Stages>,
    pub progress: Arc<EventBuffer>,
    pub cancel: CancellationToken,
    /// Test hook: wait this long (cooperatively) before the stage's work.
    pub delay: Option<Duration>,
}

/// Starts `stage` on a new thread; the receiver yields its result once it returns.
pub(crate) fn spawn(
    stage: Stage,
    inputs: StageInputs,
) -> std::io::Result<oneshot::Receiver<StageResult>> {
    let handle = tokio::runtime::Handle::current();
    let span = tracing::Span::current();
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("stage-{stage}"))
        .spawn(move || {
            let _span = span.enter();
            let result = run(&handle, stage, inputs);
            // The inputs are dropped by now (so the executor's outputs are not shared any more); when
            // the executor gave up on this stage, nobody receives the result and it is discarded.
            let _ = tx.send(result);
        })?;
    Ok(rx)
}

fn run(handle: &tokio::runtime::Handle, stage: Stage, inputs: StageInputs) -> StageResult {
    let StageInputs {
        run,
        outputs,
        connectors,
        embedder,
        blobs,
        stages,
        progress,
        cancel,
        delay,
    } = inputs;
    let cx = StageContext {
        run: &run,
        outputs: &outputs,
        connectors: &connectors,
        embedder: embedder.as_deref(),
        blobs: blobs.as_ref(),
        progress: progress.as_ref(),
        cancel: &cancel,
    };
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        handle.block_on(async {
            if let Some(delay) = delay {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = cancel.cancelled() => return Err(StageError::Canceled),
                }
            }
            stages.run(stage, &cx).await
        })
    }))
}

/// Test hook (`RESEARCHOPS_TEST_STAGE_DELAY`, honoured only with `RESEARCHOPS_TEST_HOOKS=1`): every
/// stage, or only `stage`, waits `delay` before its work, stopping at once when its token fires. It
/// lets end-to-end tests catch a run inside a stage for as long as they need (cancel, kill, reconnect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageDelay {
    /// The stage that waits; `None`: every stage.
    pub stage: Option<Stage>,
    /// How long.
    pub delay: Duration,
}

impl StageDelay {
    /// The delay for `stage`, if any.
    pub fn for_stage(&self, stage: Stage) -> Option<Duration> {
        (self.stage.is_none() || self.stage == Some(stage)).then_some(self.delay)
    }
}

impl FromStr for StageDelay {
    type Err = String;

    /// `MILLISECONDS` (every stage) or `STAGE=MILLISECONDS`, e.g. `ingest=60000`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (stage, ms) = match s.split_once('=') {
            Some((stage, ms)) => (Some(stage.trim().parse::<Stage>()?), ms),
            None => (None, s),
        };
        let ms: u64 = ms.trim().parse().map_err(|_| {
            format!("a stage delay is `MILLISECONDS` or `STAGE=MILLISECONDS` (got `{s}`)")
        })?;
        Ok(StageDelay {
            stage,
            delay: Duration::from_millis(ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_delay_names_one_stage_or_all_of_them() {
        let one: StageDelay = "ingest=1500".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            one.for_stage(Stage::Ingest),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(one.for_stage(Stage::Draft), None);
        let all: StageDelay = "20".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            all.for_stage(Stage::Export),
            Some(Duration::from_millis(20))
        );
        assert!("nope=5".parse::<StageDelay>().is_err());
        assert!("ingest=soon".parse::<StageDelay>().is_err());
    }
}
