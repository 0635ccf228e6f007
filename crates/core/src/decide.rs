//! The rules of runs and jobs as pure functions: what a cancel, a retry, the end of a run, a failed
//! attempt and the rescue of an expired lease do, and what makes two creations the same request.
//!
//! Both stores and the worker call these and keep only the SQL (or the scheduling) that carries the
//! decision out; the wording of the events they write is in [`crate::event`].

use crate::error::StoreError;
use crate::event::NewEvent;
use crate::failure::FailureCode;
use crate::queue::Lane;
use crate::run::{NewRun, Run, RunOptions, RunStatus, Stage};

/// What makes two creations with the same `client_request_id` "the same request": the project,
/// question, sources and options (not the lane). Stored with the run; compared on a repeated key.
/// Options added later are left out at their default, so fingerprints stored by earlier versions
/// still match.
pub fn request_fingerprint(run: &NewRun) -> String {
    let mut options = serde_json::to_value(&run.options).unwrap_or_default();
    if run.options.min_supported_share == RunOptions::DEFAULT_MIN_SUPPORTED_SHARE
        && let Some(map) = options.as_object_mut()
    {
        map.remove("min_supported_share");
    }
    serde_json::json!([run.project_id, run.question, run.sources, options]).to_string()
}

/// Usage counter the `factcheck` stage sets to 1 when fewer than `min_supported_share` of the drafted
/// claims were supported; a run that then succeeds finishes `completed_with_gaps`.
pub const GAPS_USAGE_KEY: &str = "completed_with_gaps";

/// `finish_reason` of a succeeded run whose report left out too many drafted claims.
pub const COMPLETED_WITH_GAPS: &str = "completed_with_gaps";

/// What creating a run with a key that is already taken yields: the earlier run when the request is
/// the same, `Conflict` when it differs.
pub fn repeated_request(
    stored_fingerprint: Option<&str>,
    fingerprint: &str,
) -> Result<(), StoreError> {
    if stored_fingerprint == Some(fingerprint) {
        Ok(())
    } else {
        Err(StoreError::Conflict(
            "client_request_id was already used for a different request".into(),
        ))
    }
}

/// What a cancel request does to a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// End the run `canceled` now and delete its queued job: no worker holds it.
    EndNow,
    /// Set `cancel_requested_at` and log [`NewEvent::cancel_requested`]: a worker is executing it
    /// and stops at the next checkpoint.
    Request,
    /// Nothing: the run is terminal, or a cancel was already requested.
    Unchanged,
}

/// Decides a cancel. `job_waiting`: the run's job is queued (not leased), e.g. backing off after a
/// retryable error — a running run in that state has no worker to notice the request, so it ends now.
pub fn cancel_decision(run: &Run, job_waiting: bool) -> CancelOutcome {
    match run.status {
        RunStatus::Created | RunStatus::Queued => CancelOutcome::EndNow,
        RunStatus::Running if job_waiting => CancelOutcome::EndNow,
        RunStatus::Running if run.cancel_requested_at.is_none() => CancelOutcome::Request,
        _ => CancelOutcome::Unchanged,
    }
}

/// Decides a retry request made from `retrier`'s lane: a failed or blocked run goes back to the
/// queue (with a new job in its own lane, its failure fields cleared) with the returned `state`
/// event; any other state is `Conflict`, and so is a run of another lane (`run_lane`): a run that
/// `researchops research` started in its private lane is never handed to `serve`'s workers.
pub fn retry_decision(run: &Run, run_lane: &Lane, retrier: &Lane) -> Result<NewEvent, StoreError> {
    if !matches!(run.status, RunStatus::Failed | RunStatus::Blocked) {
        return Err(StoreError::Conflict(format!(
            "only failed or blocked runs can be retried; this one is {}",
            run.status
        )));
    }
    if run_lane != retrier {
        return Err(StoreError::Conflict(format!(
            "this run was queued in lane `{run_lane}` by another process (e.g. `researchops research`) \
             and can be retried only from there, not from lane `{retrier}`"
        )));
    }
    Ok(NewEvent::retry_requested(
        run.status,
        run.current_stage,
        run.checkpoint,
    ))
}

/// How a run ends: the row's new fields and the events to append, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEnding {
    /// The terminal state.
    pub to: RunStatus,
    /// `completed`, `completed_with_gaps`, `canceled` or `failed`.
    pub finish_reason: &'static str,
    /// The failure code and reason, on failure.
    pub failure: Option<(FailureCode, String)>,
    /// `error` (on failure), then `state`.
    pub events: Vec<NewEvent>,
}

/// Decides how `run` ends in `to`; `stage` is the stage its events name. `Conflict` if the state
/// machine forbids the transition (the caller guards its update with `run.status` as well).
pub fn end_decision(
    run: &Run,
    to: RunStatus,
    failure: Option<(FailureCode, &str)>,
    stage: Option<Stage>,
) -> Result<RunEnding, StoreError> {
    let finish_reason = to.finish_reason().filter(|_| to.is_terminal());
    let Some(finish_reason) = finish_reason.filter(|_| run.status.can_transition_to(to)) else {
        return Err(StoreError::Conflict(format!(
            "a {} run cannot become {to}",
            run.status
        )));
    };
    let gaps = run
        .usage
        .get(GAPS_USAGE_KEY)
        .and_then(serde_json::Value::as_u64)
        == Some(1);
    let finish_reason = if to == RunStatus::Succeeded && gaps {
        COMPLETED_WITH_GAPS
    } else {
        finish_reason
    };
    let mut events = Vec::with_capacity(2);
    if let Some((code, reason)) = failure {
        events.push(NewEvent::run_failed(stage, code, reason));
    }
    events.push(NewEvent::run_ended(run.status, to, stage));
    Ok(RunEnding {
        to,
        finish_reason,
        failure: failure.map(|(code, reason)| (code, reason.to_string())),
        events,
    })
}

/// What follows an attempt that did not finish (a lost lease, a retryable error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptDecision {
    /// Attempts are left: queue the job again.
    Requeue,
    /// That was the last attempt: fail the job (and its run, `attempts_exhausted`).
    Fail,
}

/// Decides after attempt number `attempts` (1 = first) of at most `max_attempts`.
pub fn attempt_decision(attempts: i64, max_attempts: i64) -> AttemptDecision {
    if attempts >= max_attempts {
        AttemptDecision::Fail
    } else {
        AttemptDecision::Requeue
    }
}

/// A job whose lease expired, as the rescue finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiredLease<'a> {
    /// Attempts made, the expired one included.
    pub attempts: i64,
    /// The job's attempt limit.
    pub max_attempts: i64,
    /// The worker that held the lease, if recorded.
    pub owner: Option<&'a str>,
}

/// What the rescue of an expired lease does to the job's run.
#[derive(Clone, Debug, PartialEq)]
pub enum RescueEffect {
    /// Nothing: the run is not running (it ended, or was never started).
    Untouched,
    /// End the run failed with this code and reason, and delete the job.
    Fail(FailureCode, String),
    /// The run stays running and its job is queued again; append this `warn` event.
    Resume(NewEvent),
}

impl ExpiredLease<'_> {
    fn owner(&self) -> &str {
        self.owner.unwrap_or("unknown")
    }

    /// Requeue or fail the job.
    pub fn decision(&self) -> AttemptDecision {
        attempt_decision(self.attempts, self.max_attempts)
    }

    /// The job's new status: `queued` or `failed`.
    pub fn job_status(&self) -> &'static str {
        match self.decision() {
            AttemptDecision::Requeue => "queued",
            AttemptDecision::Fail => "failed",
        }
    }

    /// The job's `last_error`.
    pub fn job_error(&self) -> String {
        match self.decision() {
            AttemptDecision::Requeue => format!("lease expired (worker {})", self.owner()),
            AttemptDecision::Fail => format!(
                "lease expired (worker {}) on the last attempt",
                self.owner()
            ),
        }
    }

    /// What happens to the job's run.
    pub fn run_effect(&self, run: &Run) -> RescueEffect {
        if run.status != RunStatus::Running {
            return RescueEffect::Untouched;
        }
        match self.decision() {
            AttemptDecision::Fail => RescueEffect::Fail(
                FailureCode::AttemptsExhausted,
                format!(
                    "the worker's lease expired on attempt {} of {}",
                    self.attempts, self.max_attempts
                ),
            ),
            AttemptDecision::Requeue => RescueEffect::Resume(NewEvent::lease_expired(
                run.current_stage,
                self.owner(),
                self.attempts,
                run.checkpoint,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventLevel, EventType};
    use crate::ids::{ProjectId, RunId};
    use crate::queue::Lane;
    use crate::run::RunOptions;

    fn run(status: RunStatus) -> Run {
        Run {
            id: RunId::new(),
            project_id: ProjectId::new(),
            question: "q".into(),
            sources: vec!["local".into()],
            options: RunOptions::default(),
            output_type: "report".into(),
            status,
            current_stage: Some(Stage::Draft),
            checkpoint: Some(Stage::Outline),
            created_at: chrono::Utc::now(),
            queued_at: None,
            started_at: None,
            finished_at: None,
            cancel_requested_at: None,
            retry_count: 0,
            attempt: 1,
            failure_reason: None,
            error_code: None,
            finish_reason: None,
            usage: serde_json::json!({}),
            client_request_id: None,
        }
    }

    fn new_run(question: &str, lane: Lane) -> NewRun {
        NewRun {
            project_id: ProjectId(uuid::Uuid::nil()),
            question: question.into(),
            sources: vec!["local".into()],
            options: RunOptions::default(),
            client_request_id: Some("k".into()),
            lane,
        }
    }

    #[test]
    fn the_fingerprint_is_the_request_without_its_lane() {
        let a = new_run("q", Lane::default());
        let b = new_run("q", Lane::private("research"));
        assert_eq!(request_fingerprint(&a), request_fingerprint(&b));
        assert_ne!(
            request_fingerprint(&a),
            request_fingerprint(&new_run("other", Lane::default()))
        );
        // The stored format, keys sorted (rows written by earlier versions must still match).
        assert_eq!(
            request_fingerprint(&a),
            format!(
                r#"["{}","q",["local"],{{"claims_per_section":4,"max_sections":6,"max_sources":10}}]"#,
                uuid::Uuid::nil()
            )
        );
        let fp = request_fingerprint(&a);
        assert!(repeated_request(Some(&fp), &fp).is_ok());
        assert!(matches!(
            repeated_request(Some("other"), &fp),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            repeated_request(None, &fp),
            Err(StoreError::Conflict(_))
        ));
    }

    #[test]
    fn cancel_ends_waiting_runs_now_and_asks_executing_ones_once() {
        use CancelOutcome::*;
        assert_eq!(cancel_decision(&run(RunStatus::Queued), true), EndNow);
        assert_eq!(cancel_decision(&run(RunStatus::Created), false), EndNow);
        assert_eq!(cancel_decision(&run(RunStatus::Running), true), EndNow);
        assert_eq!(cancel_decision(&run(RunStatus::Running), false), Request);
        let mut asked = run(RunStatus::Running);
        asked.cancel_requested_at = Some(chrono::Utc::now());
        assert_eq!(cancel_decision(&asked, false), Unchanged);
        for terminal in [
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Canceled,
            RunStatus::Blocked,
        ] {
            assert_eq!(cancel_decision(&run(terminal), false), Unchanged);
        }
    }

    #[test]
    fn only_failed_or_blocked_runs_are_retried() {
        let api = Lane::default();
        let event =
            retry_decision(&run(RunStatus::Failed), &api, &api).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(event.event_type, EventType::State);
        assert_eq!(
            event.message,
            "retry requested; resuming after stage outline"
        );
        assert_eq!(
            event.payload,
            serde_json::json!({ "from": "failed", "to": "queued" })
        );
        assert!(retry_decision(&run(RunStatus::Blocked), &api, &api).is_ok());
        for other in [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Canceled,
        ] {
            assert!(matches!(
                retry_decision(&run(other), &api, &api),
                Err(StoreError::Conflict(_))
            ));
        }
    }

    #[test]
    fn a_run_is_retried_only_from_its_own_lane() {
        let cli = Lane::private("research");
        let api = Lane::default();
        let failed = run(RunStatus::Failed);
        let Err(StoreError::Conflict(why)) = retry_decision(&failed, &cli, &api) else {
            panic!("the API retried a run of the CLI's lane");
        };
        assert!(
            why.contains(cli.as_str()) && why.contains("researchops research"),
            "{why}"
        );
        assert!(retry_decision(&failed, &cli, &cli).is_ok());
    }

    #[test]
    fn a_failed_ending_writes_the_error_event_before_the_state_event() {
        let ending = end_decision(
            &run(RunStatus::Running),
            RunStatus::Failed,
            Some((FailureCode::NoEvidence, "nothing matched")),
            Some(Stage::Retrieve),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ending.finish_reason, "failed");
        let types: Vec<_> = ending.events.iter().map(|e| e.event_type).collect();
        assert_eq!(types, [EventType::Error, EventType::State]);
        assert_eq!(ending.events[0].level, EventLevel::Error);
        assert_eq!(
            ending.events[0].payload,
            serde_json::json!({ "error_code": "no_evidence", "reason": "nothing matched" })
        );
        assert_eq!(ending.events[1].message, "run failed");
        let done = end_decision(&run(RunStatus::Running), RunStatus::Succeeded, None, None);
        assert_eq!(done.map(|e| e.finish_reason).ok(), Some("completed"));
        let canceled = end_decision(&run(RunStatus::Queued), RunStatus::Canceled, None, None);
        assert_eq!(canceled.map(|e| e.events.len()).ok(), Some(1));
    }

    #[test]
    fn an_ending_the_state_machine_forbids_is_a_conflict() {
        for (from, to) in [
            (RunStatus::Succeeded, RunStatus::Failed),
            (RunStatus::Queued, RunStatus::Succeeded),
            (RunStatus::Running, RunStatus::Queued),
        ] {
            assert!(matches!(
                end_decision(&run(from), to, None, None),
                Err(StoreError::Conflict(_))
            ));
        }
    }

    #[test]
    fn the_last_attempt_fails_and_earlier_ones_requeue() {
        assert_eq!(attempt_decision(1, 3), AttemptDecision::Requeue);
        assert_eq!(attempt_decision(3, 3), AttemptDecision::Fail);
        assert_eq!(attempt_decision(4, 3), AttemptDecision::Fail);
        assert_eq!(attempt_decision(1, 1), AttemptDecision::Fail);
    }

    #[test]
    fn a_rescue_requeues_with_a_warning_or_fails_the_run_on_the_last_attempt() {
        let early = ExpiredLease {
            attempts: 1,
            max_attempts: 3,
            owner: Some("w1"),
        };
        assert_eq!(early.job_status(), "queued");
        assert_eq!(early.job_error(), "lease expired (worker w1)");
        match early.run_effect(&run(RunStatus::Running)) {
            RescueEffect::Resume(event) => {
                assert_eq!(event.level, EventLevel::Warn);
                assert_eq!(
                    event.message,
                    "worker w1 stopped responding (lease expired); the run resumes at stage draft"
                );
                assert_eq!(event.payload["attempt"], 1);
            }
            other => panic!("expected a resume, got {other:?}"),
        }
        let last = ExpiredLease {
            attempts: 3,
            max_attempts: 3,
            owner: None,
        };
        assert_eq!(last.job_status(), "failed");
        assert_eq!(
            last.job_error(),
            "lease expired (worker unknown) on the last attempt"
        );
        assert_eq!(
            last.run_effect(&run(RunStatus::Running)),
            RescueEffect::Fail(
                FailureCode::AttemptsExhausted,
                "the worker's lease expired on attempt 3 of 3".into()
            )
        );
        assert_eq!(
            last.run_effect(&run(RunStatus::Canceled)),
            RescueEffect::Untouched
        );
    }
}
