//! kmock (`tests/e2e/python/kmock_server.py`) as a child process on
//! 127.0.0.1, a kubeconfig pointing at it, and the writes a test makes.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, ChildStdin, Command, Stdio},
};

use serde_json::Value;

use crate::bins;

/// A running in-memory Kubernetes API; stopped on drop.
pub struct KubeApi {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Where it listens on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl KubeApi {
    /// Starts the server and writes a kubeconfig for it.
    pub fn start() -> Self {
        let mut child = Command::new(bins::python())
            .arg(bins::python_script("kmock_server.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start kmock_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("kmock prints its port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("kmock_server.py printed {line:?}, not a port: is kmock installed? run `cargo xtask setup`"));
        let stdin = child.stdin.take();
        let api = Self { child, stdin, port, dir: tempfile::tempdir().expect("tempdir") };
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kmock\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: kmock\n  context:\n    cluster: kmock\n    user: test\n    namespace: kvlb-system\ncurrent-context: kmock\nusers:\n- name: test\n  user:\n    token: test\n"
        );
        std::fs::write(api.kubeconfig(), kubeconfig).expect("write kubeconfig");
        api
    }

    /// The kubeconfig file for this server.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Creates `object` in the collection at `path` (e.g.
    /// `/api/v1/namespaces/models/pods`).
    pub fn create(&self, path: &str, object: &Value) -> Value {
        let url = self.url(path);
        let body = ureq::post(&url)
            .header("content-type", "application/json")
            .send(serde_json::to_vec(object).expect("JSON"))
            .and_then(|r| r.into_body().read_to_string())
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        serde_json::from_str(&body).expect("created object")
    }

    /// Merge-patches the object at `path`.
    pub fn patch(&self, path: &str, patch: &Value) -> Value {
        let url = self.url(path);
        let body = ureq::patch(&url)
            .header("content-type", "application/merge-patch+json")
            .send(serde_json::to_vec(patch).expect("JSON"))
            .and_then(|r| r.into_body().read_to_string())
            .unwrap_or_else(|e| panic!("PATCH {url}: {e}"));
        serde_json::from_str(&body).expect("patched object")
    }

    /// Deletes the object at `path`.
    pub fn delete(&self, path: &str) {
        let url = self.url(path);
        ureq::delete(&url).call().unwrap_or_else(|e| panic!("DELETE {url}: {e}"));
    }

    /// The object at `path`, if it exists.
    pub fn get(&self, path: &str) -> Option<Value> {
        let url = self.url(path);
        match ureq::get(&url).call() {
            Ok(r) => Some(serde_json::from_str(&r.into_body().read_to_string().expect("body")).expect("JSON object")),
            Err(ureq::Error::StatusCode(404)) => None,
            Err(e) => panic!("GET {url}: {e}"),
        }
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
