//! The agent's watches: KvlbPools, InferencePools, Services and both
//! InferenceObjective groups cluster-wide, and the pods of this node only
//! (field selector `spec.nodeName`). Each keeps a reflector store and signals
//! every change; a watch that fails (an API not served, a CRD not installed)
//! logs once and retries with backoff, never stopping the others.

use std::{fmt::Debug, hash::Hash, time::Duration};

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::{
    Api, Client, Resource,
    api::DynamicObject,
    runtime::{
        WatchStreamExt,
        reflector::{self, Lookup, Store, store::Writer},
        watcher,
    },
};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::{
    crd::KvlbPool,
    gie::{InferencePool, OBJECTIVE_GROUPS, objective_resource},
    translate::Snapshot,
};

/// How often the wait for the first lists says what it still waits for.
const WAITING_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The stores the watches fill.
pub struct Watches {
    kvlb_pools: Store<KvlbPool>,
    inference_pools: Store<InferencePool>,
    services: Store<Service>,
    pods: Store<Pod>,
    objectives: [Store<DynamicObject>; 2],
}

impl Watches {
    /// Starts every watch; `changed` gets a signal after each event.
    pub fn spawn(client: &Client, node: &str, changed: mpsc::Sender<()>) -> Self {
        let node_pods = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
        let objectives = OBJECTIVE_GROUPS.map(|group| {
            let resource = objective_resource(group);
            let api = Api::<DynamicObject>::all_with(client.clone(), &resource);
            watch(api, resource, watcher::Config::default(), format!("inferenceobjectives.{group}"), changed.clone())
        });
        Self {
            kvlb_pools: watch(Api::all(client.clone()), (), watcher::Config::default(), "kvlbpools.kvlb.dev".into(), changed.clone()),
            inference_pools: watch(
                Api::all(client.clone()),
                (),
                watcher::Config::default(),
                "inferencepools.inference.networking.k8s.io".into(),
                changed.clone(),
            ),
            services: watch(Api::all(client.clone()), (), watcher::Config::default(), "services".into(), changed.clone()),
            pods: watch(Api::all(client.clone()), (), node_pods, format!("pods on node {node}"), changed),
            objectives,
        }
    }

    /// Waits until the watches that make the table (not the objectives,
    /// whose CRDs may be absent) have listed once, so a restarted agent never
    /// applies a half-known table over its predecessor's.
    pub async fn synced(&self) {
        let mut last_log = tokio::time::Instant::now();
        loop {
            let pending: Vec<&str> = [
                (ready(&self.kvlb_pools), "KvlbPools"),
                (ready(&self.inference_pools), "InferencePools"),
                (ready(&self.services), "Services"),
                (ready(&self.pods), "Pods"),
            ]
            .into_iter()
            .filter_map(|(ready, name)| (!ready).then_some(name))
            .collect();
            if pending.is_empty() {
                return;
            }
            if last_log.elapsed() >= WAITING_LOG_INTERVAL {
                tracing::info!("waiting for the first list of {}", pending.join(", "));
                last_log = tokio::time::Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the stores hold now; pods of other nodes are left out.
    pub fn snapshot(&self, node: &str) -> Snapshot {
        let on_node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node);
        Snapshot {
            node: node.to_owned(),
            kvlb_pools: self.kvlb_pools.state(),
            inference_pools: self.inference_pools.state(),
            services: self.services.state(),
            pods: self.pods.state().into_iter().filter(|p| on_node(p)).collect(),
            objectives: [self.objectives[0].state(), self.objectives[1].state()],
        }
    }
}

fn ready<K>(store: &Store<K>) -> bool
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    store.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok())
}

/// One reflector, run in the background.
fn watch<K>(api: Api<K>, dyntype: <K as Resource>::DynamicType, config: watcher::Config, what: String, changed: mpsc::Sender<()>) -> Store<K>
where
    K: Resource + Lookup<DynamicType = <K as Resource>::DynamicType> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    <K as Resource>::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    let writer = Writer::new(dyntype);
    let store = writer.as_reader();
    let events = reflector::reflector(writer, watcher(api, config))
        // Every relist opens with Init, even one whose list then fails (a CRD
        // not installed); passed on, it would reset the backoff each time and
        // every agent would retry about once a second.
        .filter(|event| std::future::ready(!matches!(event, Ok(watcher::Event::Init))))
        .default_backoff();
    tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        let mut failing: Option<String> = None;
        while let Some(event) = events.next().await {
            match event {
                Ok(_) => {
                    if failing.take().is_some() {
                        tracing::info!("watching {what} again");
                    }
                    let _ = changed.try_send(());
                }
                Err(e) => {
                    let message = e.to_string();
                    if failing.as_ref() != Some(&message) {
                        tracing::warn!("cannot watch {what}: {message}; retrying with backoff");
                        failing = Some(message);
                    }
                }
            }
        }
    });
    store
}
