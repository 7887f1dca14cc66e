//! The studies slice through the real `hive serve` with no environment:
//! SQLite, files and the in-process bus. Upload, submit, poll, results,
//! report, as the curl session in the README does it.

mod support;

use std::time::{Duration, Instant};

use support::{Server, mint};

const PROFILES_CSV: &str = include_str!("../../ecosystemiser-engine/examples/residential_year/profiles.csv");
const EXPECTED_OBJECTIVE: f64 = -69.679692;

async fn poll(client: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let study: serde_json::Value = client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
        if !matches!(study["status"].as_str(), Some("queued" | "running")) {
            return study;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "still {study}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn upload_submit_poll_results_and_report_on_hive_serve() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let token = mint(dir.path(), "tenant-a", "studies:read,studies:write");
    let other = mint(dir.path(), "tenant-b", "studies:read,studies:write");
    let client = reqwest::Client::new();

    let upload: serde_json::Value =
        client.post(server.url("/v1/uploads")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let target = upload["upload"]["url"].as_str().unwrap();
    assert!(target.starts_with(&server.base), "a direct upload route: {target}");
    let mut request = client.put(target).body(PROFILES_CSV);
    for (name, value) in upload["upload"]["headers"].as_object().unwrap() {
        let value = value.as_str().unwrap().replace("<your token>", &token);
        request = request.header(name.as_str(), value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 201);

    let system = serde_json::json!({
        "name": "residential_year_dispatch", "timesteps": 8760, "timestep_hours": 1.0, "objective": "cost",
        "profiles": {"csv": upload["reference"]},
        "components": [
            {"name": "grid", "type": "grid", "import_price": "import_price", "export_price": 0.08,
             "import_max_kw": 20, "export_max_kw": 10},
            {"name": "pv", "type": "solar_pv", "capacity": 5, "profile": "pv_cf"},
            {"name": "battery", "type": "battery", "energy_kwh": 10, "power_kw": 5, "efficiency_charge": 0.95,
             "efficiency_discharge": 0.95, "loss_per_hour": 0.0001, "soc_min": 0.1, "soc_initial": 0.5, "cyclic": true},
            {"name": "house", "type": "electric_demand", "profile": "demand_kw"}
        ]
    });
    let response = client
        .post(server.url("/v1/studies"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"kind": "optimize", "system": system}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let study = poll(&client, &server.url(&format!("/v1/studies/{id}")), &token).await;
    assert_eq!(study["status"], "succeeded", "{study}\n{}", server.stderr());
    let results: serde_json::Value = client
        .get(server.url(&format!("/v1/studies/{id}/results")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let objective = results["objective"].as_f64().unwrap();
    assert!(((objective - EXPECTED_OBJECTIVE) / EXPECTED_OBJECTIVE).abs() <= 1e-6, "{objective}");
    let report = client.get(server.url(&format!("/v1/studies/{id}/report"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(report.status(), 200);
    assert!(report.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let response = client.get(server.url(&format!("/v1/studies/{id}"))).bearer_auth(&other).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let openapi = client.get(server.url("/v1/openapi.json")).send().await.unwrap();
    assert_eq!(openapi.status(), 200);
    assert!(server.stop());
}
