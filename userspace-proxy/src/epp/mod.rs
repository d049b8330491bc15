//! The Endpoint Picker: Gateway API Inference Extension's protocol (Envoy
//! ext_proc) served by kvlb-proxy, so a gateway gets the proxy's own
//! decision (model → pool, admission, load- and prefix-aware ranking) over
//! the same in-flight counts, prefix index and scores.
//!
//! - [`wire`]: the protocol's headers, metadata and answers.
//! - [`exchange`]: one stream (one HTTP request) as a state machine.
//! - [`service`]: the gRPC service, one task per stream.
//!
//! The gRPC health service answers for the picker too (`""`, `liveness`,
//! `readiness` and `envoy.service.ext_proc.v3.ExternalProcessor`).

pub mod exchange;
pub mod service;
pub mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::ExternalProcessorServer;
use tokio::net::TcpListener;
use tonic::transport::{Server, server::TcpIncoming};
use tonic_health::ServingStatus;

use crate::decide::Decider;

/// The gRPC service name the health service reports on.
pub const SERVICE_NAME: &str = "envoy.service.ext_proc.v3.ExternalProcessor";

/// Settings of the picker.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest request body held while the request is placed.
    pub max_body_bytes: usize,
    /// Fallback endpoints listed after the primary (0: the primary only,
    /// what an ORIGINAL_DST cluster can follow).
    pub fallbacks: usize,
}

/// Room for protocol framing around a body chunk in one gRPC message.
const MESSAGE_OVERHEAD: usize = 64 << 10;

/// Serves the picker and the gRPC health service on `listener` until the
/// process ends.
pub async fn serve(listener: TcpListener, decider: Arc<Decider>, settings: Settings) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in ["", "liveness", "readiness", SERVICE_NAME] {
        reporter.set_service_status(name, ServingStatus::Serving).await;
    }
    let limit = settings.max_body_bytes + MESSAGE_OVERHEAD;
    let picker = ExternalProcessorServer::new(service::Picker::new(decider, settings)).max_decoding_message_size(limit).max_encoding_message_size(limit);
    Server::builder().tcp_nodelay(true).add_service(health).add_service(picker).serve_with_incoming(TcpIncoming::from(listener)).await?;
    Ok(())
}
