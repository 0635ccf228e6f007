use crate::cluster::{Client, QUESTIONS, corpus};
use researchops::process::{ServerProcess, WorkerProcess};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A private PostgreSQL cluster (initdb as the `postgres` user into a temp dir, on a free port), so
/// restarting it disturbs no other test.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn as_postgres(bin: &Path, program: &str, args: &[&str]) -> bool {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(program))
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

impl PrivatePostgres {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())
            .expect(
                "no PostgreSQL server binaries under /usr/lib/postgresql (scripts/test.sh installs \
                 them; or leave the PostgreSQL tests out with RESEARCHOPS_TEST_POSTGRES=skip)",
            );
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success()
        );
        let data = dir.path().join("data");
        let data = data.to_str().unwrap();
        assert!(
            as_postgres(
                &bin,
                "initdb",
                &["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]
            ),
            "initdb failed"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Self { dir, bin, port };
        assert!(pg.ctl("start"), "the private PostgreSQL did not start");
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn ctl(&self, action: &str) -> bool {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        match action {
            "start" => as_postgres(
                &self.bin,
                "pg_ctl",
                &[
                    "-D",
                    &self.data(),
                    "-o",
                    &options,
                    "-l",
                    &log,
                    "-w",
                    "start",
                ],
            ),
            _ => as_postgres(
                &self.bin,
                "pg_ctl",
                &["-D", &self.data(), "-m", "fast", "-w", "stop"],
            ),
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "stop"],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_nodes_and_workers_recover_from_a_postgres_restart_without_help() {
    let pg = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("DATABASE_URL", pg.url()),
        ("RESEARCHOPS_CORPUS", corpus()),
        ("RESEARCHOPS_LEASE_SECONDS", "3".into()),
        ("RESEARCHOPS_HEARTBEAT_SECONDS", "0.5".into()),
        ("RESEARCHOPS_RESCUE_SECONDS", "0.5".into()),
        ("WORKER_POLL_SECONDS", "0.5".into()),
        ("RESEARCHOPS_MAX_ATTEMPTS", "50".into()),
        ("RESEARCHOPS_RETRY_BASE_SECONDS", "0.2".into()),
        ("RESEARCHOPS_PG_POOL_SIZE", "4".into()),
    ];
    let exe = Path::new(crate::cluster::EXE);
    let mut api_env = env.clone();
    api_env.push(("RESEARCHOPS_WORKERS", "0".into()));
    let api = ServerProcess::spawn(exe, dir.path(), &api_env)
        .await
        .unwrap();
    let mut worker_env = env.clone();
    worker_env.push(("RESEARCHOPS_WORKERS", "1".into()));
    // Every stage takes at least 200 ms (test hook), so runs are certainly executing at the restart.
    worker_env.push(("RESEARCHOPS_TEST_HOOKS", "1".into()));
    worker_env.push(("RESEARCHOPS_TEST_STAGE_DELAY", "200".into()));
    let workers = [
        WorkerProcess::spawn(exe, dir.path(), &worker_env)
            .await
            .unwrap(),
        WorkerProcess::spawn(exe, dir.path(), &worker_env)
            .await
            .unwrap(),
    ];
    let client = Client::new();
    let project = client.project(&api.url).await;
    let mut runs = Vec::new();
    for q in QUESTIONS.iter().cycle().take(24) {
        runs.push(client.run(&api.url, &project, q).await);
    }
    // Restart the database while those runs execute.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    // (The first run started: with 24 runs of at least 1.4 s on two workers, most are still to go.)
    while client.get(&format!("{}/runs/{}", api.url, runs[0])).await["status"] == "queued" {
        assert!(tokio::time::Instant::now() < deadline, "no run started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(pg.ctl("stop"));
    let down = client
        .http
        .get(format!("{}/readyz", api.url))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 503, "not ready while the database is down");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(pg.ctl("start"));
    let restarted = std::time::Instant::now();
    // Everything recovers by itself: readiness, new runs, and every run started before the restart.
    let mut ready = false;
    for _ in 0..100 {
        if client
            .http
            .get(format!("{}/readyz", api.url))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "the API node is ready again");
    eprintln!(
        "ready {:.1} s after PostgreSQL came back",
        restarted.elapsed().as_secs_f64()
    );
    runs.push(client.run(&api.url, &project, QUESTIONS[0]).await);
    let finished = client
        .wait_all(&api.url, &runs, Duration::from_secs(300))
        .await;
    for state in &finished {
        assert_eq!(state["status"], "succeeded", "{state}");
    }
    eprintln!(
        "all runs finished {:.1} s after PostgreSQL came back",
        restarted.elapsed().as_secs_f64()
    );
    for run in &runs {
        client.assert_each_stage_once(&api.url, run).await;
    }
    drop(workers);
}
