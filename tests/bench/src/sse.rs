//! The `data` of one OpenAI streaming chunk: does it carry output text, and
//! does it carry `usage`.

use serde::Deserialize;

/// Token counts of a response's `usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Prompt-token details.
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct PromptDetails {
    /// Prompt tokens served from the prefix cache.
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// What one `data:` line said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// `[DONE]`: the stream ended normally.
    Done,
    /// A JSON chunk: whether it carried generated text, and any usage.
    Data {
        /// The first choice has non-empty `delta.content` (chat) or `text`
        /// (completions).
        text: bool,
        /// The chunk's `usage`, if present and not null.
        usage: Option<Usage>,
    },
}

#[derive(Deserialize)]
struct RawChunk {
    #[serde(default)]
    choices: Vec<RawChoice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawChoice {
    #[serde(default)]
    delta: Option<RawDelta>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct RawDelta {
    #[serde(default)]
    content: Option<String>,
}

/// Parses one event's data; an error chunk or invalid JSON is an error
/// message.
pub fn parse(data: &str) -> Result<Chunk, String> {
    if data.trim() == "[DONE]" {
        return Ok(Chunk::Done);
    }
    let raw: RawChunk =
        serde_json::from_str(data).map_err(|e| format!("chunk is not JSON ({e}): {data:.200}"))?;
    if let Some(error) = raw.error {
        return Err(format!("error chunk: {error:.200}"));
    }
    let text = raw.choices.first().is_some_and(|c| {
        let delta = c.delta.as_ref().and_then(|d| d.content.as_deref());
        !delta.or(c.text.as_deref()).unwrap_or_default().is_empty()
    });
    Ok(Chunk::Data {
        text,
        usage: raw.usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_text_usage_done_and_errors_apart() {
        let chat = r#"{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":" the"},"finish_reason":null}]}"#;
        assert_eq!(
            parse(chat),
            Ok(Chunk::Data {
                text: true,
                usage: None
            })
        );
        let role_only = r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#;
        assert_eq!(
            parse(role_only),
            Ok(Chunk::Data {
                text: false,
                usage: None
            })
        );
        let completion = r#"{"choices":[{"index":0,"text":"a"}],"usage":null}"#;
        assert_eq!(
            parse(completion),
            Ok(Chunk::Data {
                text: true,
                usage: None
            })
        );
        let usage = r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":8}}}"#;
        let Ok(Chunk::Data {
            text: false,
            usage: Some(u),
        }) = parse(usage)
        else {
            panic!("{:?}", parse(usage))
        };
        assert_eq!((u.prompt_tokens, u.completion_tokens), (10, 3));
        assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(8));
        assert_eq!(parse("[DONE]"), Ok(Chunk::Done));
        assert!(
            parse(r#"{"error":{"message":"boom"}}"#)
                .unwrap_err()
                .contains("boom")
        );
        assert!(parse("not json").unwrap_err().contains("not JSON"));
    }
}
