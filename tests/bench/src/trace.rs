//! Trace files: JSON Lines, one request per line.
//!
//! ```json
//! {"t_ms":0.0,"model":"m","messages":[{"role":"system","content":"..."},{"role":"user","content":"..."}],"max_tokens":128,"session":"group-3"}
//! {"t_ms":41.7,"model":"m","prompt":"...","max_tokens":64,"objective":"batch"}
//! ```
//!
//! `t_ms` is the arrival offset from the start of the run (non-decreasing),
//! exactly one of `messages` (chat completions) and `prompt` (completions) is
//! given, `objective` and `session` are optional (sent as the
//! `x-gateway-inference-objective` and `x-session-id` headers). Blank lines
//! are skipped; anything else that does not parse names the line and field.

use std::{
    io::{BufRead, Write},
    path::Path,
};

use serde::{Deserialize, Serialize};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// One request of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRequest {
    /// Arrival offset from the start of the run, in milliseconds.
    pub t_ms: f64,
    /// Model or LoRA adapter name.
    pub model: String,
    /// Chat messages (sent to `/v1/chat/completions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
    /// Completion prompt (sent to `/v1/completions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Output tokens to generate.
    pub max_tokens: u32,
    /// Inference objective name (GIE's `x-gateway-inference-objective`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    /// Session id (`x-session-id`), e.g. a conversation or a prefix group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// A trace that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file cannot be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a valid request.
    #[error("{path}:{line}: {message}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The file holds no request.
    #[error("{path}: the trace holds no request")]
    Empty {
        /// The file.
        path: String,
    },
}

impl TraceRequest {
    /// Checks the fields serde cannot: one of `messages`/`prompt`, a finite
    /// non-negative `t_ms`, `max_tokens` ≥ 1, a non-empty model.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.t_ms.is_finite() && self.t_ms >= 0.0) {
            return Err(format!(
                "t_ms: must be a finite number >= 0, got {}",
                self.t_ms
            ));
        }
        if self.model.is_empty() {
            return Err("model: must not be empty".into());
        }
        if self.max_tokens == 0 {
            return Err("max_tokens: must be at least 1".into());
        }
        match (&self.messages, &self.prompt) {
            (Some(m), None) if m.is_empty() => Err("messages: must not be empty".into()),
            (Some(_), None) | (None, Some(_)) => Ok(()),
            (Some(_), Some(_)) => {
                Err("give exactly one of `messages` and `prompt`, not both".into())
            }
            (None, None) => Err("give one of `messages` and `prompt`".into()),
        }
    }
}

/// Parses a trace from a reader; `path` names it in errors.
pub fn parse(path: &str, reader: impl BufRead) -> Result<Vec<TraceRequest>, TraceError> {
    let mut requests = Vec::new();
    let mut last_t = 0.0;
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| TraceError::Io {
            path: path.into(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| TraceError::Line {
            path: path.into(),
            line: i + 1,
            message,
        };
        let request: TraceRequest = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        request.validate().map_err(bad)?;
        if request.t_ms < last_t {
            return Err(bad(format!(
                "t_ms: {} is before the previous request's {last_t}",
                request.t_ms
            )));
        }
        last_t = request.t_ms;
        requests.push(request);
    }
    if requests.is_empty() {
        return Err(TraceError::Empty { path: path.into() });
    }
    Ok(requests)
}

/// Reads a trace file.
pub fn read(path: &Path) -> Result<Vec<TraceRequest>, TraceError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| TraceError::Io {
        path: name.clone(),
        source,
    })?;
    parse(&name, std::io::BufReader::new(file))
}

/// Writes a trace as JSON Lines.
pub fn write(out: &mut impl Write, requests: &[TraceRequest]) -> std::io::Result<()> {
    for request in requests {
        serde_json::to_writer(&mut *out, request)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Mean arrival rate of a trace in requests per second (0 if every request
/// arrives at once).
pub fn mean_qps(requests: &[TraceRequest]) -> f64 {
    let span_ms =
        requests.last().map_or(0.0, |r| r.t_ms) - requests.first().map_or(0.0, |r| r.t_ms);
    if span_ms <= 0.0 {
        return 0.0;
    }
    // n arrivals span n - 1 gaps.
    (requests.len() - 1) as f64 * 1000.0 / span_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Vec<TraceRequest>, TraceError> {
        parse("t.jsonl", text.as_bytes())
    }

    #[test]
    fn reads_chat_and_completion_lines_and_skips_blank_ones() {
        let trace = parse_str(concat!(
            r#"{"t_ms":0,"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":4,"session":"s1"}"#,
            "\n\n",
            r#"{"t_ms":12.5,"model":"m","prompt":"hello","max_tokens":2,"objective":"batch"}"#,
            "\n",
        ))
        .unwrap();
        assert_eq!(trace.len(), 2);
        assert_eq!(trace[0].session.as_deref(), Some("s1"));
        assert_eq!(trace[1].prompt.as_deref(), Some("hello"));
        assert_eq!(trace[1].objective.as_deref(), Some("batch"));
        let mut out = Vec::new();
        write(&mut out, &trace).unwrap();
        assert_eq!(
            parse("again", out.as_slice()).unwrap(),
            trace,
            "write then parse round-trips"
        );
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let cases = [
            (
                r#"{"t_ms":0,"model":"m","max_tokens":4}"#,
                "t.jsonl:1: give one of `messages` and `prompt`",
            ),
            (
                r#"{"t_ms":0,"model":"m","prompt":"p","max_tokens":0}"#,
                "t.jsonl:1: max_tokens: must be at least 1",
            ),
            (
                r#"{"t_ms":-1,"model":"m","prompt":"p","max_tokens":1}"#,
                "t.jsonl:1: t_ms: must be a finite number >= 0",
            ),
            (
                r#"{"t_ms":0,"model":"m","prompt":"p","max_tokens":1,"tokens":3}"#,
                "unknown field `tokens`",
            ),
            (
                r#"{"t_ms":0,"model":"m","prompt":"p","max_tokens":"many"}"#,
                "t.jsonl:1: invalid type: string \"many\"",
            ),
            ("", "t.jsonl: the trace holds no request"),
        ];
        for (text, expected) in cases {
            let error = parse_str(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
        let out_of_order = "{\"t_ms\":5,\"model\":\"m\",\"prompt\":\"p\",\"max_tokens\":1}\n{\"t_ms\":4,\"model\":\"m\",\"prompt\":\"p\",\"max_tokens\":1}";
        assert!(
            parse_str(out_of_order)
                .unwrap_err()
                .to_string()
                .starts_with("t.jsonl:2: t_ms: 4 is before")
        );
    }

    #[test]
    fn mean_rate_counts_gaps() {
        let at = |t_ms| TraceRequest {
            t_ms,
            model: "m".into(),
            messages: None,
            prompt: Some("p".into()),
            max_tokens: 1,
            objective: None,
            session: None,
        };
        assert_eq!(mean_qps(&[at(0.0), at(500.0), at(1000.0)]), 2.0);
        assert_eq!(mean_qps(&[at(3.0)]), 0.0);
    }
}
