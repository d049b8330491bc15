//! The API calls, against kube's mock service: each test plays the API
//! server, asserting every request's method, path and body, and fails when
//! an expected call does not come within a second.

use std::{sync::Arc, time::Duration};

use http::{Method, Request, Response};
use http_body_util::BodyExt;
use kube::{Client, client::Body};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tower_test::mock::{self, Handle, SendResponse};

use super::fixtures::{kvlb_pool, spec};
use crate::k8s::{
    crd::KvlbPool,
    status::StatusWriter,
    uninstall::UninstallCheck,
    verdict::{Problem, Verdict},
    watches::Watches,
};

type ApiServer = Handle<Request<Body>, Response<Body>>;

fn mock_client() -> (Client, ApiServer) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), handle)
}

async fn next_call(server: &mut ApiServer) -> (Request<Body>, SendResponse<Response<Body>>) {
    tokio::time::timeout(Duration::from_secs(1), server.next_request())
        .await
        .expect("an API call within 1 s")
        .expect("the client is alive")
}

async fn no_call(server: &mut ApiServer) {
    if let Ok(Some((req, _))) = tokio::time::timeout(Duration::from_millis(200), server.next_request()).await {
        panic!("unexpected API call {} {}", req.method(), req.uri());
    }
}

fn reply(status: u16, body: &Value) -> Response<Body> {
    Response::builder().status(status).body(Body::from(serde_json::to_vec(body).unwrap())).unwrap()
}

fn failure(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": reason, "reason": reason, "code": code})
}

async fn json_body(req: Request<Body>) -> Value {
    let bytes = req.into_body().collect().await.expect("request body").to_bytes();
    serde_json::from_slice(&bytes).expect("a JSON body")
}

#[tokio::test]
async fn pods_are_watched_on_this_node_only_and_a_missing_objective_crd_does_not_block_the_start() {
    let (client, mut server) = mock_client();
    let (changed, _events) = mpsc::channel(1);
    let watches = Watches::spawn(&client, "node-a", changed);
    let mut pod_calls = Vec::new();
    // Six watches list first: the four the table needs answer with empty
    // lists; both InferenceObjective groups are not served (no CRD).
    for _ in 0..6 {
        let (req, send) = next_call(&mut server).await;
        let uri = req.uri().to_string();
        if uri.starts_with("/api/v1/pods") {
            pod_calls.push(uri.clone());
        }
        if uri.contains("inferenceobjectives") {
            send.send_response(reply(404, &failure(404, "NotFound")));
        } else {
            send.send_response(reply(200, &json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": []})));
        }
    }
    assert_eq!(pod_calls.len(), 1, "{pod_calls:?}");
    assert!(pod_calls[0].contains("fieldSelector=spec.nodeName%3Dnode-a"), "pods must be listed with the node's field selector: {}", pod_calls[0]);
    tokio::time::timeout(Duration::from_secs(1), watches.synced()).await.expect("synced without the InferenceObjective CRDs");
    // The watch that follows the list keeps the selector.
    for _ in 0..8 {
        let (req, _pending) = next_call(&mut server).await;
        let uri = req.uri().to_string();
        if uri.starts_with("/api/v1/pods") {
            assert!(uri.contains("watch=true") && uri.contains("fieldSelector=spec.nodeName%3Dnode-a"), "{uri}");
            return;
        }
    }
    panic!("no watch of this node's pods");
}

fn verdict(accepted: Result<(), Problem>) -> Verdict {
    Verdict { namespace: "models".into(), name: "llama".into(), generation: Some(2), vip: Some("127.96.0.10:8000".parse().unwrap()), accepted, resolved: Ok(()) }
}

/// Expects one status patch and answers it; returns the patch body.
async fn expect_status_patch(server: &mut ApiServer) -> Value {
    let (req, send) = next_call(server).await;
    assert_eq!(req.method(), Method::PATCH);
    assert_eq!(req.uri().path(), "/apis/kvlb.dev/v1alpha1/namespaces/models/kvlbpools/llama/status");
    assert_eq!(req.headers()["content-type"], "application/merge-patch+json");
    assert!(req.uri().query().unwrap_or_default().contains("fieldManager=kvlb-agent"), "{}", req.uri());
    let body = json_body(req).await;
    let mut pool = serde_json::to_value(&*kvlb_pool("models", "llama", 1, spec())).unwrap();
    pool["status"] = body["status"].clone();
    send.send_response(reply(200, &pool));
    body
}

#[tokio::test]
async fn status_goes_to_the_status_subresource_once_per_change() {
    let (client, mut server) = mock_client();
    let mut writer = StatusWriter::new(client);
    let pools = vec![kvlb_pool("models", "llama", 1, spec())];
    let invalid = verdict(Err(Problem::invalid("spec.splitWeight: 0 is out of range 1..=65535")));

    let (written, body) = tokio::join!(writer.write(&pools, std::slice::from_ref(&invalid)), expect_status_patch(&mut server));
    assert_eq!(written, 1);
    let status = &body["status"];
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(status["vip"], "127.96.0.10:8000");
    let accepted = &status["conditions"][0];
    assert_eq!((&accepted["type"], &accepted["status"], &accepted["reason"]), (&json!("Accepted"), &json!("False"), &json!("InvalidField")));
    assert!(accepted["message"].as_str().unwrap().starts_with("spec.splitWeight"), "{accepted}");
    assert_eq!(accepted["observedGeneration"], 2);
    assert_eq!((&status["conditions"][1]["type"], &status["conditions"][1]["status"]), (&json!("ResolvedRefs"), &json!("True")));

    // The same verdict again, before the watch shows the new status: no write.
    assert_eq!(writer.write(&pools, std::slice::from_ref(&invalid)).await, 0);
    // The watch caught up: still none.
    let mut seen: KvlbPool = (*pools[0]).clone();
    seen.status = serde_json::from_value(status.clone()).unwrap();
    assert_eq!(writer.write(&[Arc::new(seen)], std::slice::from_ref(&invalid)).await, 0);
    no_call(&mut server).await;

    // The spec was fixed: one write.
    let fixed = [verdict(Ok(()))];
    let (written, body) = tokio::join!(writer.write(&pools, &fixed), expect_status_patch(&mut server));
    assert_eq!(written, 1);
    assert_eq!(body["status"]["conditions"][0]["status"], "True");
}

/// Runs the uninstall check with the API server answering the start-up read
/// and, if the check makes it, the shutdown read as given.
async fn uninstalling(at_start: (u16, Value), at_stop: Option<(u16, Value)>) -> bool {
    let (client, mut server) = mock_client();
    let answer = async move {
        for (code, body) in std::iter::once(at_start).chain(at_stop) {
            let (req, send) = next_call(&mut server).await;
            assert_eq!((req.method(), req.uri().path()), (&Method::GET, "/apis/apps/v1/namespaces/kvlb-system/daemonsets/kvlb"));
            send.send_response(reply(code, &body));
        }
    };
    let check = async {
        let check = UninstallCheck::new(client, "kvlb-system", "kvlb".into()).await;
        check.uninstalling().await
    };
    let ((), gone) = tokio::join!(answer, check);
    gone
}

#[tokio::test]
async fn sigterm_detaches_only_when_the_daemonset_is_going_away() {
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kvlb", "namespace": "kvlb-system"}});
    let mut deleting = ds.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let ok = || (200, ds.clone());
    assert!(!uninstalling(ok(), Some(ok())).await, "rolling update: the DaemonSet stays");
    assert!(uninstalling(ok(), Some((404, failure(404, "NotFound")))).await, "DaemonSet deleted");
    assert!(uninstalling(ok(), Some((200, deleting))).await, "DaemonSet being deleted");
    assert!(uninstalling(ok(), Some((403, failure(403, "Forbidden")))).await, "RBAC removed with the release");
    assert!(!uninstalling(ok(), Some((500, failure(500, "InternalError")))).await, "an API failure keeps routing");
    assert!(!uninstalling((403, failure(403, "Forbidden")), None).await, "never readable: never detach, without asking again");
}
