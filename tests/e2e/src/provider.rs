//! Fake external providers for the egress tests: `python/fake_provider.py`
//! as a child process on a loopback address, validating every request
//! against the provider's schema and answering like the real API. Killed on
//! drop.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use serde_json::Value;

use crate::bins;

/// The API a fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// OpenAI's (`/v1/chat/completions`, `Authorization: Bearer`).
    Openai,
    /// Anthropic's Messages API (`/v1/messages`, `x-api-key`).
    Anthropic,
}

/// A running fake provider.
pub struct FakeProvider {
    child: Child,
    /// `http://host:port`.
    pub url: String,
}

impl FakeProvider {
    /// Starts a fake of `kind` on `host` (a free port) accepting `key`.
    pub fn start(kind: Kind, host: &str, key: &str) -> Self {
        let kind = match kind {
            Kind::Openai => "openai",
            Kind::Anthropic => "anthropic",
        };
        let mut child = Command::new(bins::python())
            .arg(bins::python_script("fake_provider.py"))
            .args([kind, host, key])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn fake_provider.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the fake announces its address");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("fake_provider.py printed {line:?}: {e}"));
        Self { child, url: v["url"].as_str().expect("url").to_owned() }
    }

    /// Queues answers for the next requests (each an object: `status`,
    /// `headers`, `body`; or `stream_raw` and `then_sleep`; or `redirect`;
    /// `delay` before any of them).
    pub fn script(&self, answers: Value) {
        ureq::post(&format!("{}/_script", self.url)).header("content-type", "application/json").send(answers.to_string()).expect("script the fake provider");
    }

    /// Every request received: `path`, `headers`, `body`, `problems` (schema
    /// violations found).
    pub fn requests(&self) -> Vec<Value> {
        let body = ureq::get(&format!("{}/_requests", self.url)).call().and_then(|r| r.into_body().read_to_string()).expect("fake provider requests");
        serde_json::from_str::<Value>(&body).expect("JSON").as_array().cloned().unwrap_or_default()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
