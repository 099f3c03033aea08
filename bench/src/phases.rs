//! The measured phases: first request of each sign-in, steady-state latency per stage of the
//! request path, throughput at fixed concurrency, and micro-measurements of gateway parts.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldvault_aws::session::acting_as;
use fieldvault_core::caller::Role;
use fieldvault_core::ids::UserId;
use fieldvault_tools::jwt::JwtVerifier;
use fieldvault_tools::registry::handler_for;
use serde::Serialize;

use crate::bare::{aws_rule_wru, exec, plan, sign_in_plan, write_sizes, ItemSize, Units};
use crate::fixture::{Case, Fixture, Spec, PROVIDER};
use crate::stats::Summary;
use crate::Res;

fn per_request(calls: &BTreeMap<String, u64>, n: usize) -> BTreeMap<String, f64> {
    calls
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64 / n.max(1) as f64))
        .collect()
}

fn merge(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

fn me_spec() -> Spec {
    Spec {
        method: "GET",
        route: "/me",
        path: "/me".into(),
        query: None,
        param: None,
        body: None,
        signature: None,
    }
}

#[derive(Debug, Serialize)]
pub struct SignIn {
    pub users: usize,
    /// `GET /me`, first request of each user's sign-in, then the second.
    pub first: Summary,
    pub second: Summary,
    pub first_calls_per_user: BTreeMap<String, f64>,
    pub second_calls_per_user: BTreeMap<String, f64>,
    /// The sign-in record's write units (bare mirror: marker + audit record in one transaction).
    pub sign_in_wru: f64,
    pub sts_before: u64,
    pub sts_after_first: u64,
    pub sts_after_second: u64,
}

/// Every user's first request (which records the sign-in), then a second one.
pub async fn sign_in(fx: &Fixture) -> Res<SignIn> {
    let spec = me_spec();
    let sts_before = fx.app.sessions.sts_calls();
    let (mut first, mut second) = (Vec::new(), Vec::new());
    let (mut first_calls, mut second_calls) = (BTreeMap::new(), BTreeMap::new());
    let mut sts_after_first = sts_before;
    for (round, samples, calls) in [
        (0, &mut first, &mut first_calls),
        (1, &mut second, &mut second_calls),
    ] {
        for u in &fx.users {
            fx.metrics.take();
            let t = Instant::now();
            let (status, body) = fx.call(&spec, &u.token).await?;
            samples.push(t.elapsed());
            if status != 200 {
                return Err(format!(
                    "GET /me as {} answered {status}: {}",
                    u.role,
                    String::from_utf8_lossy(&body)
                )
                .into());
            }
            merge(calls, fx.metrics.take().0);
        }
        if round == 0 {
            sts_after_first = fx.app.sessions.sts_calls();
        }
    }
    let mut units = Units::default();
    exec(&fx.bare, sign_in_plan(fx)?, &mut units).await?;
    Ok(SignIn {
        users: fx.users.len(),
        first: Summary::of(&first),
        second: Summary::of(&second),
        first_calls_per_user: per_request(&first_calls, fx.users.len()),
        second_calls_per_user: per_request(&second_calls, fx.users.len()),
        sign_in_wru: units.write,
        sts_before,
        sts_after_first,
        sts_after_second: fx.app.sessions.sts_calls(),
    })
}

#[derive(Debug, Serialize)]
pub struct CaseResult {
    pub case: &'static str,
    pub label: &'static str,
    pub route: &'static str,
    pub n: usize,
    /// Plain SDK client: the handler's DynamoDB calls and nothing else.
    pub bare: Summary,
    /// The same calls through the tenant session's client (STS credentials, local policy guard).
    pub session: Summary,
    /// The function's work on a prebuilt API Gateway event: parsing it and the handler (what
    /// Lambda runs and bills).
    pub handler: Summary,
    /// HTTP over loopback through the local gateway (JWT authorizer, event, handler).
    pub gateway: Summary,
    /// DynamoDB calls per request on the product path, counted by the SDK interceptor.
    pub calls_per_request: BTreeMap<String, f64>,
    pub handler_calls_per_request: BTreeMap<String, f64>,
    /// Capacity units per request the product path's metrics saw.
    pub counted_capacity_per_request: f64,
    pub bare_calls_per_request: BTreeMap<String, f64>,
    /// Read and write units per request, from the bare mirror (ReturnConsumedCapacity=INDEXES).
    pub rru_per_request: f64,
    pub wru_per_request: f64,
    /// The same units by table and index (DynamoDB Local's INDEXES breakdown).
    pub capacity_by_target_per_request: BTreeMap<String, f64>,
    /// The items one request writes (sizes by DynamoDB's rules) and the write units AWS's
    /// published rules give for them.
    pub write_items: Vec<ItemSize>,
    pub aws_rule_wru_per_request: f64,
    pub errors: usize,
    /// Gateway p50 over bare p50: the target's measure.
    pub ratio_p50: f64,
    /// The function's p50 (event parse + handler) over bare p50: the part that runs in Lambda.
    pub function_ratio_p50: f64,
    pub throughput: Vec<Throughput>,
}

/// Steady-state latency of one case, stage by stage. Stages run interleaved (rotating order)
/// on the same request index, so drift in the emulators hits every stage alike.
pub async fn sequential(fx: &Fixture, case: Case, warmup: usize, n: usize) -> Res<CaseResult> {
    let owner = fx.owner();
    // The function's execution role, as the local gateway runs it.
    let role = fieldvault_core::template::Template::embedded()?.function_role(case.function())?;
    // The session the product path uses: the owner's, or for the webhook the provider's.
    let session = match case {
        Case::PaymentWebhook => {
            let provider = UserId::parse(&format!("provider-{PROVIDER}"))?;
            acting_as(
                &role,
                fx.app
                    .sessions
                    .session(&fx.tenant, Role::PaymentProvider, &provider),
            )
            .await?
        }
        _ => {
            acting_as(
                &role,
                fx.app.sessions.session(&fx.tenant, Role::Owner, &owner.id),
            )
            .await?
        }
    };
    let guarded = session.dynamodb().clone();
    let handler = handler_for(case.function())
        .ok_or_else(|| format!("no handler for {}", case.function()))?;
    let total = warmup + n;
    let mut work = Vec::with_capacity(total);
    for i in 0..total {
        work.push((
            Some(plan(fx, case, &fx.spec(case, i))?),
            Some(plan(fx, case, &fx.spec(case, i))?),
            Some(fx.event(&fx.spec(case, i), owner).to_string()),
            fx.spec(case, i),
        ));
    }
    let write_items = work
        .first()
        .and_then(|w| w.0.as_deref())
        .map(write_sizes)
        .unwrap_or_default();
    let mut samples: [Vec<Duration>; 4] = Default::default();
    let mut bare_units = Units::default();
    let (mut gw_calls, mut h_calls) = (BTreeMap::new(), BTreeMap::new());
    let mut gw_capacity = 0.0;
    let mut errors = 0;
    fx.metrics.take();
    for (i, (bare_plan, session_plan, request, spec)) in work.iter_mut().enumerate() {
        let measured = i >= warmup;
        for k in 0..4 {
            match (i + k) % 4 {
                0 => {
                    let ops = bare_plan.take().ok_or("bare plan used twice")?;
                    let mut u = Units::default();
                    let t = Instant::now();
                    exec(&fx.bare, ops, &mut u).await?;
                    let d = t.elapsed();
                    if measured {
                        samples[0].push(d);
                        merge(&mut bare_units.calls, u.calls);
                        bare_units.read += u.read;
                        bare_units.write += u.write;
                        for (k, v) in u.targets {
                            *bare_units.targets.entry(k).or_default() += v;
                        }
                    }
                }
                1 => {
                    let ops = session_plan.take().ok_or("session plan used twice")?;
                    let mut u = Units::default();
                    let t = Instant::now();
                    exec(&guarded, ops, &mut u).await?;
                    let d = t.elapsed();
                    fx.metrics.take();
                    if measured {
                        samples[1].push(d);
                    }
                }
                2 => {
                    let event = request.take().ok_or("request used twice")?;
                    fx.metrics.take();
                    // What the function does with an event: parse it, then the handler.
                    let t = Instant::now();
                    let req = lambda_http::request::from_str(&event)
                        .map_err(|e| format!("parsing the Lambda event: {e}"))?;
                    let resp = acting_as(&role, handler(fx.app, req)).await;
                    let d = t.elapsed();
                    let (calls, _) = fx.metrics.take();
                    if !case.accepts(resp.status().as_u16(), resp.body().as_ref()) {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!(
                                "{}: handler answered {}: {:?}",
                                case.key(),
                                resp.status(),
                                resp.body()
                            );
                        }
                    }
                    if measured {
                        samples[2].push(d);
                        merge(&mut h_calls, calls);
                    }
                }
                _ => {
                    // Built before the clock starts, as the other stages' inputs are.
                    let http_request = fx.http_request(spec, &owner.token)?;
                    fx.metrics.take();
                    let t = Instant::now();
                    let (status, body) = fx.send(http_request).await?;
                    let d = t.elapsed();
                    let (calls, capacity) = fx.metrics.take();
                    if !case.accepts(status, &body) {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!(
                                "{}: gateway answered {status}: {}",
                                case.key(),
                                String::from_utf8_lossy(&body)
                            );
                        }
                    }
                    if measured {
                        samples[3].push(d);
                        merge(&mut gw_calls, calls);
                        gw_capacity += capacity;
                    }
                }
            }
        }
    }
    let [bare, sess, hand, gate] = samples.map(|s| Summary::of(&s));
    Ok(CaseResult {
        case: case.key(),
        label: case.label(),
        route: case.route(),
        n,
        ratio_p50: gate.p50_us / bare.p50_us.max(1.0),
        function_ratio_p50: hand.p50_us / bare.p50_us.max(1.0),
        bare,
        session: sess,
        handler: hand,
        gateway: gate,
        calls_per_request: per_request(&gw_calls, n),
        handler_calls_per_request: per_request(&h_calls, n),
        counted_capacity_per_request: gw_capacity / n.max(1) as f64,
        bare_calls_per_request: per_request(&bare_units.calls, n),
        rru_per_request: bare_units.read / n.max(1) as f64,
        wru_per_request: bare_units.write / n.max(1) as f64,
        capacity_by_target_per_request: bare_units
            .targets
            .iter()
            .map(|(k, v)| (k.clone(), v / n.max(1) as f64))
            .collect(),
        aws_rule_wru_per_request: aws_rule_wru(&write_items),
        write_items,
        errors,
        throughput: Vec::new(),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub concurrency: usize,
    pub ok: usize,
    pub errors: usize,
    pub seconds: f64,
    pub rps: f64,
    pub latency: Summary,
}

/// Closed-loop load: `concurrency` workers send requests back to back for `seconds` (and at
/// most `cap` requests each).
pub async fn throughput(
    fx: &'static Fixture,
    case: Case,
    concurrency: usize,
    seconds: f64,
    cap: usize,
) -> Res<Throughput> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline && latencies.len() + errors < cap {
                let spec = fx.spec(case, next.fetch_add(1, Ordering::Relaxed));
                let t = Instant::now();
                match fx.call(&spec, &fx.owner().token).await {
                    Ok((status, body)) if case.accepts(status, &body) => {
                        latencies.push(t.elapsed())
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await?;
        all.extend(l);
        errors += e;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Throughput {
        concurrency,
        ok: all.len(),
        errors,
        seconds: secs,
        rps: all.len() as f64 / secs,
        latency: Summary::of(&all),
    })
}

#[derive(Debug, Serialize)]
pub struct Parts {
    /// Verifying an access token (RS256) with the gateway's verifier, JWKS cached.
    pub jwt_verify: Summary,
    /// The same token seen again (signature remembered, claims checked).
    pub jwt_seen: Summary,
    /// Building the API Gateway event JSON and parsing it into a `lambda_http::Request`.
    pub event_round_trip: Summary,
    /// An HTTP request over loopback that the gateway answers 404 (no auth, no handler).
    pub http_floor: Summary,
    /// One Cedar authorization (GetCustomer on a customer) by the app's policy engine, not
    /// decided before (each customer is assigned a technician of its own).
    pub cedar_decide: Summary,
    /// The same decision asked again (remembered).
    pub cedar_seen: Summary,
    /// Shaping a list page: 25 items from attribute values to `Customer` to response JSON.
    pub list_shaping: Summary,
}

pub async fn parts(fx: &Fixture, n: usize) -> Res<Parts> {
    let verifier = JwtVerifier::new(
        fx.stack.issuer.clone(),
        vec![fx.stack.client_id.clone()],
        fx.stack.jwks_url.clone(),
    );
    let auth = format!("Bearer {}", fx.owner().token);
    verifier.verify(Some(&auth)).await?;
    let (mut jwt, mut jwt_seen) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        // A token the gateway has not verified yet: the RS256 check and the claims.
        verifier.forget_verified();
        let t = Instant::now();
        verifier.verify(Some(&auth)).await?;
        jwt.push(t.elapsed());
        // The same token again: its signature is remembered, the claims checked again.
        let t = Instant::now();
        verifier.verify(Some(&auth)).await?;
        jwt_seen.push(t.elapsed());
    }
    let mut event = Vec::with_capacity(n);
    for i in 0..n {
        let spec = fx.spec(Case::Get, i);
        let t = Instant::now();
        let req = fx.request(&spec, fx.owner())?;
        event.push(t.elapsed());
        drop(req);
    }
    let miss = Spec {
        method: "GET",
        route: "/bench-not-found",
        path: "/bench-not-found".into(),
        query: None,
        param: None,
        body: None,
        signature: None,
    };
    let mut floor = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let request = fx.http_request(&miss, "")?;
        let t = Instant::now();
        let (status, _) = fx.send(request).await?;
        if i >= 20 {
            floor.push(t.elapsed());
        }
        if status != 404 {
            return Err(format!("GET /bench-not-found answered {status}, not 404").into());
        }
    }
    let claims: std::collections::HashMap<String, String> = fx
        .owner()
        .claims
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let caller = fieldvault_core::caller::Caller::from_claims(&claims)
        .map_err(|e| format!("caller from the owner's claims: {e}"))?;
    let (mut cedar, mut cedar_seen) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        // Attributes no request had: a decision made afresh.
        let resource = fieldvault_core::authz::Resource::Customer {
            tenant: fx.tenant.clone(),
            id: fieldvault_core::ids::CustomerId::new(ulid::Ulid::new()),
            assigned_technicians: vec![UserId::parse(&format!("bench-tech-{i}"))?],
        };
        let decide = || {
            fx.app.policy.decide(
                &caller,
                fieldvault_core::actions::Action::GetCustomer,
                &resource,
            )
        };
        let t = Instant::now();
        let decided = decide();
        cedar.push(t.elapsed());
        let t = Instant::now();
        let again = decide();
        cedar_seen.push(t.elapsed());
        if decided.is_err() || again.is_err() {
            return Err("the owner was refused GetCustomer".into());
        }
    }
    let page = fx
        .bare
        .query()
        .table_name(&fx.stack.data_table)
        .index_name(fieldvault_core::keys::GSI1)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", fieldvault_core::keys::GSI1_PK)
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(fieldvault_core::keys::customers_list(
                &fx.tenant,
            )),
        )
        .limit(25)
        .send()
        .await
        .map_err(|e| format!("Query: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    let mut shaping = Vec::with_capacity(n);
    for _ in 0..n {
        // The store takes the SDK's answer apart; a copy of it per run, made before the clock.
        let items = page.items().to_vec();
        let t = Instant::now();
        // As `DynamoStore::list_records` does for `Ctx::page`, then `Reply::ok`.
        let customers: Vec<fieldvault_core::customer::Customer> = items
            .into_iter()
            .filter_map(fieldvault_aws::attrs::record_from_attrs)
            .collect();
        let count = customers.len();
        let body = serde_json::to_string(&fieldvault_core::routes::PageOf {
            items: customers,
            next_cursor: None,
        })?;
        shaping.push(t.elapsed());
        if count != page.items().len() || body.is_empty() {
            return Err("list shaping: items did not parse as customers".into());
        }
    }
    Ok(Parts {
        cedar_decide: Summary::of(&cedar),
        cedar_seen: Summary::of(&cedar_seen),
        list_shaping: Summary::of(&shaping),
        jwt_verify: Summary::of(&jwt),
        jwt_seen: Summary::of(&jwt_seen),
        event_round_trip: Summary::of(&event),
        http_floor: Summary::of(&floor),
    })
}
