//! `hive serve` answers one OpenAPI document for every app, and it lists
//! exactly the routes served: each documented method is routed, every other
//! method on a documented path is a 405, and each app's paths are there.

mod support;

use support::{Server, mint};

#[tokio::test]
async fn one_document_covers_every_apps_routes_and_only_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let token = mint(dir.path(), "t", "studies:read,studies:write,events:read,hive:read");
    let client = reqwest::Client::new();

    let response = client.get(server.url("/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let document: serde_json::Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.0.3");
    let paths = document["paths"].as_object().unwrap();
    for path in ["/v1/health", "/v1/whoami", "/v1/studies", "/v1/studies/{id}", "/v1/uploads/{id}", "/v1/openapi.json"] {
        assert!(paths.contains_key(path), "{path} is not documented: {:?}", paths.keys());
    }
    for (path, item) in paths {
        let concrete = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let request = client.request(method.parse().unwrap(), server.url(&concrete)).bearer_auth(&token);
            let status = request.send().await.unwrap().status().as_u16();
            let documented = item.get(method.to_lowercase()).is_some();
            assert_eq!(status != 405, documented, "{method} {path}: {status}");
            assert!(status < 500, "{method} {path}: {status}");
        }
    }
    assert!(server.stop());
}
