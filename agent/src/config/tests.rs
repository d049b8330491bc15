use super::*;

fn err(text: &str) -> String {
    parse(text, "pools.yaml").unwrap_err().to_string()
}

const GOOD: &str = "
pools:
  - name: a
    vip: 127.10.0.1:80
    endpoints:
      - address: 127.0.0.2:9000
        weight: 3
      - address: 127.0.0.3:9000
        draining: true
  - name: empty
    vip: 127.10.0.2:80
    when_empty: pass
";

#[test]
fn parses_a_good_file_with_defaults() {
    let t = parse(GOOD, "pools.yaml").unwrap();
    assert_eq!(t.pools.len(), 2);
    assert_eq!(t.pools[0].mode, Mode::Connect);
    assert_eq!(t.pools[0].endpoints[0].weight, 3);
    assert_eq!(t.pools[0].endpoints[1].weight, 1);
    assert!(t.pools[0].endpoints[1].draining);
    assert_eq!(t.pools[1].when_empty, WhenEmpty::Pass);
    assert!(t.pools[1].endpoints.is_empty(), "a pool scaled to zero is valid");
    let scrape = t.pools[0].scrape.as_ref().unwrap();
    assert_eq!((scrape.engine, scrape.path.as_str(), scrape.port), (Engine::Vllm, "/metrics", None));
    assert_eq!(t.pools[0].scoring.weights, Weights::preset(Preset::KvlbDefault));
    assert_eq!(t.pools[0].scoring.staleness, Duration::from_millis(200));
}

#[test]
fn scoring_overrides_a_preset_and_scraping_can_be_off() {
    let text = "pools:\n  - name: a\n    vip: 127.1.1.1:1\n    scrape: false\n    scoring:\n      preset: gie-default\n      conn: 0.25\n    endpoints:\n      - address: 127.0.0.2:1\n        engine: sglang\n";
    let t = parse(text, "pools.yaml").unwrap();
    assert!(t.pools[0].scrape.is_none());
    let w = t.pools[0].scoring.weights;
    assert_eq!((w.preset, w.queue, w.kv, w.conn), (Preset::GieDefault, 2.0, 2.0, 0.25));
    assert_eq!(t.pools[0].endpoints[0].engine, Some(Engine::Sglang));
}

#[test]
fn the_embedded_demo_is_valid() {
    parse(DEMO, "<embedded>").unwrap();
}

#[test]
fn errors_name_the_file_the_field_and_the_problem() {
    let cases = [
        ("pools:\n  - name: a\n    vip: nope\n", "pools.yaml: pools[0].vip: invalid socket address syntax"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:80\n    endpoints:\n      - address: 127.0.0.2:1\n        weight: -1\n", "pools.yaml: pools[0].endpoints[0].weight:"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:80\n    colour: red\n", "unknown field `colour`"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:80\n  - name: b\n    vip: 127.1.1.1:80\n", "pools.yaml: pools[1].vip: VIP 127.1.1.1:80 is already used by pools[0]"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:80\n  - name: a\n    vip: 127.1.1.2:80\n", "pools[1].name: duplicate pool name"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:80\n    endpoints:\n      - address: 127.1.1.1:80\n", "pools[0].vip: VIP 127.1.1.1:80 is also an endpoint (pools[0].endpoints[0])"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:80\n    endpoints:\n      - address: 127.0.0.2:9\n      - address: 127.0.0.2:9\n", "pools[0].endpoints[1].address: duplicate endpoint 127.0.0.2:9"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:80\n    endpoints:\n      - address: 127.0.0.2:9\n        weight: 0\n", "pools[0].endpoints[0].weight: 0 is out of range 1..=65535"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:80\n    endpoints:\n      - address: \"[::1]:9\"\n", "is not the same address family as the VIP"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:0\n", "pools[0].vip: 127.1.1.1:0 has port 0"),
        ("pools:\n  - name: A_b\n    vip: 127.1.1.1:1\n", "pools[0].name: \"A_b\" must be"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:1\n    mode: l7\n", "pools[0].models: a pool in l7 mode must name the models it serves"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:1\n    mode: turbo\n", "pools[0].mode: unknown variant `turbo`"),
        ("pools: [\n", "pools.yaml: "),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:1\n    metrics:\n      engine: tgi\n", "pools[0].metrics.engine: unknown variant `tgi`"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:1\n    metrics:\n      path: metrics\n", "pools[0].metrics.path: \"metrics\" must start with '/'"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:1\n    scoring:\n      kv: -1\n", "pools[0].scoring.kv: -1 is out of range 0..=1000"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:1\n    scoring:\n      staleness_ms: 0\n", "pools[0].scoring.staleness_ms: 0 is out of range 1..=60000"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:1\n    scoring:\n      saturation_kv: 1.5\n", "pools[0].scoring.saturation_kv: 1.5 is out of range (0, 1]"),
        ("pools:\n  - name: a\n    vip: 127.1.1.1:1\n    scoring:\n      preset: fastest\n", "pools[0].scoring.preset: unknown variant `fastest`"),
    ];
    for (text, want) in cases {
        let got = err(text);
        assert!(got.contains(want), "for\n{text}\nwant {want:?}\ngot  {got:?}");
        assert!(!got.contains('\n'), "one-line error, got {got:?}");
    }
}

#[test]
fn too_many_endpoints_for_one_pool_is_rejected() {
    let mut text = String::from("pools:\n  - name: big\n    vip: 127.1.1.1:80\n    endpoints:\n");
    for i in 0..1025 {
        text.push_str(&format!("      - address: 127.2.{}.{}:9000\n", i / 250, i % 250 + 1));
    }
    assert!(err(&text).contains("pools[0].endpoints: 1025 endpoints; a pool holds at most 1024"));
}
