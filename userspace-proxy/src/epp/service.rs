//! The gRPC side: `envoy.service.ext_proc.v3.ExternalProcessor` with one
//! task per stream feeding an [`Exchange`], and the decision time measured
//! from the message that completed the request to the answer (the first
//! message sent back, ahead of any body chunks) handed to the stream.

use std::{sync::Arc, time::Instant};

use envoy_types::pb::envoy::service::ext_proc::v3::{ProcessingRequest, ProcessingResponse, external_processor_server::ExternalProcessor};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{Settings, exchange::Exchange};
use crate::decide::Decider;

/// Answers sent ahead of the gateway reading them, per stream.
const ANSWERS_QUEUED: usize = 64;

/// The Endpoint Picker service.
pub struct Picker {
    decider: Arc<Decider>,
    settings: Settings,
}

impl Picker {
    /// A picker deciding with `decider`.
    pub fn new(decider: Arc<Decider>, settings: Settings) -> Self {
        Self { decider, settings }
    }
}

#[tonic::async_trait]
impl ExternalProcessor for Picker {
    type ProcessStream = ReceiverStream<Result<ProcessingResponse, Status>>;

    async fn process(&self, request: Request<Streaming<ProcessingRequest>>) -> Result<Response<Self::ProcessStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(ANSWERS_QUEUED);
        let mut exchange = Exchange::new(self.decider.clone(), self.settings.clone());
        let metrics = self.decider.metrics.clone();
        tokio::spawn(async move {
            loop {
                let message = match inbound.message().await {
                    Ok(Some(message)) => message,
                    Ok(None) => return,
                    Err(status) => {
                        tracing::debug!("ext_proc stream ended: {status}");
                        return;
                    }
                };
                let received = Instant::now();
                let step = match exchange.on(message) {
                    Ok(step) => step,
                    Err(status) => {
                        tracing::warn!("ext_proc protocol error: {}", status.message());
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                };
                for (i, response) in step.responses.into_iter().enumerate() {
                    if tx.send(Ok(response)).await.is_err() {
                        return;
                    }
                    if i == 0 && step.decided {
                        metrics.decided(received.elapsed());
                    }
                }
                if step.close {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
