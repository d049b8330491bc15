//! Tests of Kubernetes mode without a cluster: the translation on fixture
//! objects, and the API calls against kube's mock service (tower-test).

mod fixtures;
mod mock_api;
mod translate;
