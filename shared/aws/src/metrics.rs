//! DynamoDB call accounting for the benchmark: an SDK interceptor counts every request a
//! tenant session sends (by operation), and the store adds the capacity DynamoDB reports.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Default)]
pub struct DynamoMetrics {
    calls: Mutex<BTreeMap<String, u64>>,
    /// Consumed capacity units × 1000 (atomics hold integers).
    capacity_milli: AtomicU64,
}

impl DynamoMetrics {
    pub fn record_call(&self, operation: &str) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(operation.to_owned()).or_default() += 1;
        }
    }

    pub fn record_capacity(&self, units: f64) {
        self.capacity_milli
            .fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
    }

    /// Calls by operation and capacity units since the last reset.
    pub fn take(&self) -> (BTreeMap<String, u64>, f64) {
        let calls = self
            .calls
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        let milli = self.capacity_milli.swap(0, Ordering::Relaxed);
        (calls, milli as f64 / 1000.0)
    }
}

/// Counts each request by its `X-Amz-Target` operation, right before it is sent.
#[derive(Debug, Clone)]
pub struct CountingInterceptor(pub Arc<DynamoMetrics>);

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "DynamoCallCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("unknown");
        self.0
            .record_call(target.rsplit('.').next().unwrap_or(target));
        Ok(())
    }
}
