use crate::{
    config::parse,
    egress::{KeySource, ProviderKind, Target},
};

const POOL: &str = "pools:\n  - name: llama\n    vip: 127.1.1.1:80\n    mode: l7\n    models: [m, gpt-4o]\n";

fn err(text: &str) -> String {
    parse(text, "pools.yaml").unwrap_err().to_string()
}

#[test]
fn providers_parse_with_defaults_mapped_models_and_chains() {
    let text = format!(
        "{POOL}providers:\n  - name: openai\n    kind: openai\n    base_url: https://api.openai.com/v1/\n    api_key_env: OPENAI_API_KEY\n    models: [gpt-4o, {{ name: fast, upstream: gpt-4o-mini }}]\n  - name: claude\n    kind: anthropic\n    base_url: https://api.anthropic.com\n    api_key_file: /run/secrets/anthropic\n    timeout_ms: 5000\n    retries: 0\n    models:\n      - name: gpt-4o\n        upstream: claude-sonnet-4-5\nfallbacks:\n  gpt-4o: [openai, claude, llama]\n"
    );
    let t = parse(&text, "pools.yaml").unwrap();
    let e = &t.egress;
    let openai = e.provider("openai").unwrap();
    assert_eq!((openai.kind, openai.base_url.as_str(), openai.retries, openai.max_tokens), (ProviderKind::Openai, "https://api.openai.com/v1", 2, 4096));
    assert_eq!(openai.api_key, Some(KeySource::Env("OPENAI_API_KEY".into())));
    assert_eq!((openai.models[1].name.as_str(), openai.models[1].upstream.as_str()), ("fast", "gpt-4o-mini"));
    let claude = e.provider("claude").unwrap();
    assert_eq!((claude.timeout.as_millis(), claude.retries), (5000, 0));
    assert_eq!(
        e.chain("gpt-4o"),
        vec![Target::Provider("openai".into()), Target::Provider("claude".into()), Target::Pool("llama".into())]
    );
    assert_eq!(e.chain("fast"), vec![Target::Provider("openai".into())]);
    assert!(e.chain("m").is_empty(), "a pool-only model is not egress");
    assert_eq!(e.model_names(), vec!["fast", "gpt-4o"]);
}

#[test]
fn the_state_file_carries_where_keys_are_never_keys() {
    let text = format!("{POOL}providers:\n  - name: o\n    kind: openai\n    base_url: http://127.0.0.1:9\n    api_key_file: /run/key\n    models: [x]\n");
    let t = parse(&text, "pools.yaml").unwrap();
    let json = serde_json::to_string(&t.egress).unwrap();
    assert!(json.contains(r#""api_key":{"file":"/run/key"}"#), "{json}");
}

#[test]
fn provider_errors_name_the_field() {
    let p = |body: &str| format!("{POOL}providers:\n  - name: p\n{body}");
    let base = "    kind: openai\n    base_url: http://127.0.0.1:9\n";
    let cases = [
        (p("    kind: openai\n    base_url: http://127.0.0.1:9\n    api_key: sk-123\n    models: [x]\n"), "providers[0].api_key: a key never goes in the pool file"),
        (p("    kind: anthropic\n    base_url: http://127.0.0.1:9\n    models: [x]\n"), "providers[0].api_key_file: an anthropic provider needs"),
        (p(&format!("{base}    api_key_file: key.txt\n    models: [x]\n")), "providers[0].api_key_file: key.txt must be an absolute path"),
        (p(&format!("{base}    api_key_env: 1BAD\n    models: [x]\n")), "providers[0].api_key_env: \"1BAD\" is not an environment variable name"),
        (p(&format!("{base}    api_key_env: A\n    api_key_file: /k\n    models: [x]\n")), "providers[0].api_key_env: give api_key_file or api_key_env, not both"),
        (p("    kind: openai\n    base_url: ftp://x\n    models: [x]\n"), "providers[0].base_url: \"ftp://x\" must start with https:// or http://"),
        (p("    kind: openai\n    base_url: https://user:sk-secret@x.example\n    models: [x]\n"), "providers[0].base_url: the URL must not carry credentials"),
        (p("    kind: openai\n    base_url: https://x.example/v1?key=1\n    models: [x]\n"), "must not have a query or a fragment"),
        (p("    kind: gemini\n    base_url: https://x.example\n    models: [x]\n"), "providers[0].kind: unknown variant `gemini`"),
        (p(base), "providers[0].models: a provider must serve at least one model"),
        (p(&format!("{base}    models: [x, x]\n")), "providers[0].models[1]: duplicate model \"x\""),
        (p(&format!("{base}    timeout_ms: 0\n    models: [x]\n")), "providers[0].timeout_ms: 0 is out of range"),
        (p(&format!("{base}    retries: 11\n    models: [x]\n")), "providers[0].retries: 11 is out of range 0..=10"),
        (p(&format!("{base}    colour: red\n    models: [x]\n")), "unknown field `colour`"),
        (format!("{POOL}providers:\n  - name: llama\n{base}    models: [x]\n"), "providers[0].name: \"llama\" is already the name of a provider or a pool"),
        (p(&format!("{base}    models: [gpt-4o]\n")), "fallbacks.gpt-4o: \"gpt-4o\" is served by p, llama: list the order to try them in"),
        (p(&format!("{base}    models: [gpt-4o]\nfallbacks:\n  gpt-4o: [llama, p]\n")), "fallbacks.gpt-4o[0]: pool \"llama\" must come last"),
        (p(&format!("{base}    models: [gpt-4o]\nfallbacks:\n  gpt-4o: [p]\n")), "fallbacks.gpt-4o: pool llama serves \"gpt-4o\" but is not listed"),
        (p(&format!("{base}    models: [x]\nfallbacks:\n  x: [p, nope]\n")), "fallbacks.x[1]: \"nope\" is neither a provider nor a pool"),
        (p(&format!("{base}    models: [x]\nfallbacks:\n  x: [p, p]\n")), "fallbacks.x[1]: \"p\" is listed twice"),
        (p(&format!("{base}    models: [x]\nfallbacks:\n  x: [p, llama]\n")), "fallbacks.x[1]: pool \"llama\" does not serve \"x\""),
        (p(&format!("{base}    models: [x]\nfallbacks:\n  y: [llama]\n")), "fallbacks.y: no provider serves \"y\""),
    ];
    for (text, want) in cases {
        let got = err(&text);
        assert!(got.contains(want), "for\n{text}\nwant {want:?}\ngot  {got:?}");
        assert!(!got.contains("sk-"), "an error never repeats a key: {got}");
    }
}
