//! The portal in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver; `infra/local/test.sh` installs both). A customer approves an estimate option
//! and the office can then create the job; a customer pays an invoice on the sandbox
//! provider's page and comes back to the receipt, with the invoice paid in the API; an expired
//! link shows the neutral page. Screenshots are kept in `target/test-artifacts/`.
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use fieldvault_core::caller::Role;
use fieldvault_system_tests::Stack;
use serde_json::{json, Value};

use crate::portal::{customer, sent_estimate, sent_invoice};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempdir::Dir,
}

mod tempdir {
    /// A directory removed when dropped.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    async fn start() -> Browser {
        let driver_bin = std::env::var("FV_CHROMEDRIVER")
            .expect("FV_CHROMEDRIVER is not set: run through infra/local/test.sh");
        let chromium = std::env::var("FV_CHROMIUM").expect("FV_CHROMIUM");
        let port = free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("fv-chromium-{}", ulid::Ulid::new()));
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=420,900",
                format!("--user-data-dir={}", profile.display())]
        }}}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        Browser {
            driver,
            base,
            session,
            http,
            _profile: tempdir::Dir(profile),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json");
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Wait until the page holds `text` (navigation after a click is asynchronous).
    async fn wait_for(&self, text: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            last = self.source().await;
            if last.contains(text) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {text:?}: {last}");
    }

    async fn screenshot(&self, name: &str) {
        let dir =
            std::env::var("FV_ARTIFACTS_DIR").unwrap_or_else(|_| "target/test-artifacts".into());
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("png");
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        std::fs::write(format!("{dir}/{name}.png"), bytes).expect("screenshot saved");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

#[tokio::test]
async fn a_customer_approves_pays_and_meets_a_dead_link_in_headless_chromium() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let cid = customer(&s, &t).await;
    let (estimate, approve_url, _) = sent_estimate(&s, &t, &cid).await;
    let (invoice, pay_url, pay_link) = sent_invoice(&s, &t, &cid, 18_900).await;
    let browser = Browser::start().await;

    // Approve the second option with a typed name and consent.
    browser.go(&approve_url).await;
    browser.wait_for("Furnace replacement").await;
    let best = estimate["options"][1]["id"].as_str().expect("option");
    browser.click(&format!("input[value=\"{best}\"]")).await;
    browser.type_into("#name", "Pat Doe").await;
    browser.click("#consent").await;
    browser.screenshot("portal-estimate").await;
    browser.click("#approve").await;
    browser.wait_for("Approved by Pat Doe").await;
    browser.screenshot("portal-approved").await;
    let job = s
        .post(
            "/jobs",
            t.token(Role::Dispatcher),
            &json!({"customer_id": cid, "estimate_id": estimate["id"]}),
        )
        .await;
    assert_eq!(job.status, 201, "the job can now be created: {}", job.body);

    // Pay on the sandbox provider's page and come back to the receipt.
    browser.go(&pay_url).await;
    browser.wait_for("189.00 USD").await;
    browser.click("#pay").await;
    browser.wait_for("card_number").await;
    browser
        .type_into("input[name=card_number]", "4242424242424242")
        .await;
    browser.click("#pay").await;
    browser.wait_for("Paid in full").await;
    browser.screenshot("portal-receipt").await;
    let paid = s
        .get(&format!("/invoices/{invoice}"), t.token(Role::Accounting))
        .await;
    assert_eq!(paid.body["balance_minor"], 0, "{}", paid.body);

    // An expired link shows the neutral page.
    aws_sdk_dynamodb::Client::new(&s.sdk)
        .update_item()
        .table_name(&s.settings().data_table)
        .key(
            "pk",
            AttributeValue::S(format!("T#{}#LINK#{pay_link}", t.id)),
        )
        .key("sk", AttributeValue::S("LINK".into()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", AttributeValue::S("2020-01-01T00:00:00Z".into()))
        .send()
        .await
        .expect("expire");
    browser.go(&pay_url).await;
    browser.wait_for("Link not available").await;
    browser.screenshot("portal-expired").await;
    browser.call(reqwest::Method::DELETE, "", None).await;
}
